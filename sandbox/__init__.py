"""Local stand-ins for the Salesforce and HubSpot APIs, seeded with synthetic tenants."""
