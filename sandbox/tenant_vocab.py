"""The vocabulary synthetic tenants are drawn from: industries, places, tech, titles, names, pages,
forms and campaigns.

Kept apart from the generator (:mod:`sandbox.tenant`) so the benchmark generator and tests can
import the same lists instead of copying them. Each list pairs a value with the weight it is drawn
with and, where it matters, with how much it adds to the hidden *fit* of a lead (the truth the
generated outcomes depend on; a scoring model never sees these numbers).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Industry",
    "Country",
    "Tech",
    "Title",
    "INDUSTRIES",
    "COUNTRIES",
    "TECHS",
    "TITLES",
    "FIRST_NAMES",
    "LAST_NAMES",
    "COMPANY_WORDS",
    "COMPANY_CORES",
    "COMPANY_SUFFIXES",
    "TLDS",
    "FREE_MAIL",
    "SITE",
    "APP_SITE",
    "PAGES_HIGH",
    "PAGES_MEDIUM",
    "PAGES_LOW",
    "CAREERS_PAGES",
    "APP_PAGES",
    "FORMS",
    "FORM_PAGES",
    "CAMPAIGN_TYPES",
    "CAMPAIGN_TOPICS",
    "LEAD_SOURCES",
    "TEAMS",
    "TERRITORIES",
    "SELLER_DOMAIN",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


class Industry(NamedTuple):
    name: str
    weight: float
    fit: float  # added to the hidden fit of every lead in the industry
    log_employees: float  # mean of ln(employees)
    revenue_per_employee: float  # median annual revenue per employee, USD


class Country(NamedTuple):
    code: str
    weight: float
    fit: float
    territory: str
    places: tuple[tuple[str | None, str], ...]  # (state or None, city)


class Tech(NamedTuple):
    name: str
    prevalence: float  # share of mid-sized accounts running it (grows with size)
    fit: float


class Title(NamedTuple):
    title: str
    weight: float


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Software", 14, 1.0, 4.6, 220_000),
    Industry("Internet", 7, 0.8, 4.3, 260_000),
    Industry("Financial Services", 9, 0.7, 5.6, 400_000),
    Industry("Insurance", 4, 0.4, 5.8, 450_000),
    Industry("Healthcare", 8, 0.2, 5.5, 150_000),
    Industry("Biotechnology", 3, 0.1, 4.5, 300_000),
    Industry("Manufacturing", 10, 0.1, 5.4, 250_000),
    Industry("Retail", 7, 0.0, 5.2, 180_000),
    Industry("Telecommunications", 3, 0.5, 6.0, 350_000),
    Industry("Media", 4, 0.2, 4.2, 200_000),
    Industry("Education", 6, -0.8, 5.0, 90_000),
    Industry("Government", 3, -1.0, 6.2, 120_000),
    Industry("Non-Profit", 3, -1.2, 3.8, 70_000),
    Industry("Consulting", 6, 0.5, 4.0, 180_000),
    Industry("Real Estate", 4, -0.2, 3.9, 250_000),
    Industry("Transportation", 4, -0.1, 5.3, 200_000),
    Industry("Energy", 3, 0.0, 5.9, 600_000),
    Industry("Hospitality", 3, -0.5, 4.8, 70_000),
)

COUNTRIES: tuple[Country, ...] = (
    Country("US", 44, 0.5, "NA", (
        ("NY", "New York"), ("CA", "San Francisco"), ("TX", "Austin"), ("WA", "Seattle"),
        ("MA", "Boston"), ("IL", "Chicago"), ("FL", "Miami"), ("GA", "Atlanta"),
        ("CO", "Denver"), ("NC", "Raleigh"), ("PA", "Philadelphia"), ("CA", "Los Angeles"),
        ("CA", "San Jose"), ("NJ", "Newark"), ("VA", "Arlington"), ("OH", "Columbus"),
        ("MN", "Minneapolis"), ("AZ", "Phoenix"), ("OR", "Portland"), ("UT", "Salt Lake City"),
        ("MI", "Detroit"), ("TN", "Nashville"), ("TX", "Dallas"), ("NY", "Brooklyn"))),
    Country("CA", 5, 0.4, "NA", (("ON", "Toronto"), ("BC", "Vancouver"), ("QC", "Montreal"),
                                 ("AB", "Calgary"), ("ON", "Ottawa"))),
    Country("GB", 9, 0.4, "EMEA", ((None, "London"), (None, "Manchester"), (None, "Edinburgh"),
                                   (None, "Bristol"), (None, "Leeds"))),
    Country("DE", 7, 0.3, "EMEA", (("BE", "Berlin"), ("BY", "Munich"), ("HH", "Hamburg"),
                                   ("HE", "Frankfurt"), ("NW", "Cologne"))),
    Country("FR", 5, 0.2, "EMEA", ((None, "Paris"), (None, "Lyon"), (None, "Toulouse"),
                                   (None, "Nantes"), (None, "Lille"))),
    Country("NL", 3, 0.3, "EMEA", ((None, "Amsterdam"), (None, "Rotterdam"), (None, "Utrecht"),
                                   (None, "Eindhoven"))),
    Country("ES", 2, 0.0, "EMEA", ((None, "Madrid"), (None, "Barcelona"), (None, "Valencia"))),
    Country("SE", 2, 0.2, "EMEA", ((None, "Stockholm"), (None, "Gothenburg"), (None, "Malmo"))),
    Country("IE", 1, 0.3, "EMEA", ((None, "Dublin"), (None, "Cork"))),
    Country("AU", 4, 0.3, "APAC", (("NSW", "Sydney"), ("VIC", "Melbourne"), ("QLD", "Brisbane"),
                                   ("WA", "Perth"))),
    Country("IN", 6, -0.4, "APAC", (("KA", "Bangalore"), ("MH", "Mumbai"), ("DL", "Delhi"),
                                    ("TN", "Chennai"), ("TG", "Hyderabad"))),
    Country("SG", 2, 0.2, "APAC", ((None, "Singapore"),)),
    Country("JP", 2, -0.2, "APAC", ((None, "Tokyo"), (None, "Osaka"))),
    Country("BR", 3, -0.3, "LATAM", (("SP", "Sao Paulo"), ("RJ", "Rio de Janeiro"),
                                     ("MG", "Belo Horizonte"))),
    Country("MX", 2, -0.3, "LATAM", ((None, "Mexico City"), (None, "Guadalajara"),
                                     (None, "Monterrey"))),
)

TECHS: tuple[Tech, ...] = (
    Tech("Salesforce", 0.35, 0.6),
    Tech("HubSpot", 0.25, 0.6),
    Tech("Marketo", 0.08, 0.4),
    Tech("Pardot", 0.06, 0.4),
    Tech("Outreach", 0.06, 0.3),
    Tech("Salesloft", 0.04, 0.3),
    Tech("Zendesk", 0.15, 0.1),
    Tech("Intercom", 0.10, 0.1),
    Tech("Slack", 0.45, 0.1),
    Tech("Microsoft Teams", 0.40, 0.0),
    Tech("Google Workspace", 0.45, 0.0),
    Tech("AWS", 0.40, 0.1),
    Tech("Azure", 0.20, 0.0),
    Tech("Snowflake", 0.08, 0.3),
    Tech("Segment", 0.06, 0.3),
    Tech("Shopify", 0.06, -0.2),
)

#: Job titles and how often they appear. Seniority and department are *derived* from the title
#: (by :mod:`scoring.derive`), the same way a scoring model sees them.
TITLES: tuple[Title, ...] = (
    Title("CEO", 2.5), Title("Founder", 2.0), Title("Co-Founder & CEO", 1.0),
    Title("Chief Revenue Officer", 1.0), Title("CMO", 1.2), Title("CTO", 1.2),
    Title("CFO", 0.8), Title("COO", 0.6), Title("President", 0.8), Title("Owner", 1.5),
    Title("VP of Sales", 2.0), Title("VP Marketing", 2.0), Title("VP Engineering", 1.0),
    Title("Head of Revenue Operations", 1.0), Title("Head of Growth", 1.0),
    Title("SVP Sales", 0.5), Title("VP Demand Generation", 0.6),
    Title("Director of Sales", 2.5), Title("Director of Marketing", 2.5),
    Title("Sales Operations Director", 1.0), Title("IT Director", 1.2),
    Title("Director of Finance", 0.8), Title("Marketing Operations Director", 1.0),
    Title("Sales Manager", 4.0), Title("Marketing Manager", 4.5),
    Title("Demand Gen Manager", 2.0), Title("Revenue Operations Manager", 2.0),
    Title("Product Marketing Manager", 1.5), Title("IT Manager", 2.0),
    Title("Engineering Manager", 1.5), Title("HR Manager", 1.5),
    Title("Operations Manager", 2.0), Title("Account Manager", 2.0),
    Title("Account Executive", 4.0), Title("Sales Development Representative", 3.0),
    Title("Business Development Representative", 2.0), Title("Marketing Specialist", 3.0),
    Title("Marketing Coordinator", 2.0), Title("Content Writer", 1.0),
    Title("Software Engineer", 4.0), Title("Senior Software Engineer", 2.5),
    Title("Data Analyst", 2.0), Title("Systems Administrator", 1.5),
    Title("Accountant", 1.5), Title("Financial Analyst", 1.0), Title("Recruiter", 1.2),
    Title("Consultant", 2.0), Title("Customer Success Specialist", 1.5),
    Title("Office Administrator", 1.0), Title("Analyst", 1.5),
    Title("Student", 2.0), Title("MBA Student", 0.8), Title("Marketing Intern", 1.0),
    Title("Job Seeker", 0.8), Title("Looking for new opportunities", 0.5),
    Title("Graduate Trainee", 0.5),
)

FIRST_NAMES: tuple[str, ...] = _words(
    """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
    Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew
    Sandra Anthony Betty Mark Ashley Steven Emily Paul Kimberly Andrew Michelle Joshua Amanda
    Kevin Melissa Brian Stephanie George Rebecca Timothy Laura Ryan Sharon Jacob Cynthia Nicholas
    Kathleen Eric Amy Jonathan Angela Justin Anna Brandon Samantha Benjamin Rachel Samuel Olivia
    Gregory Emma Alexander Sophia Patrick Chloe Frank Charlotte Raymond Hannah Jack Grace Dennis
    Victoria Jerry Julia Tyler Lucy Aaron Amelia Jose Isabella Adam Mia Nathan Ava Henry Zoe
    Zachary Nora Kyle Leah Priya Arjun Ananya Rahul Sanjay Deepa Vikram Neha Wei Li Jing Hiroshi
    Yuki Kenji Sakura Min-jun Ji-woo Mohammed Fatima Ahmed Aisha Omar Layla Lukas Leonie Jonas
    Lena Felix Hannes Mathilde Louis Camille Hugo Chloé Lucas Ines Pablo Lucia Javier Sofia
    Mateo Valentina Diego Camila Joao Ana Pedro Beatriz Lars Ingrid Sven Astrid Liam Siobhan
    Sean Aoife Olga Ivan Tomasz Katarzyna Kwame Ama Chidi Ngozi Thabo Lerato"""
)

LAST_NAMES: tuple[str, ...] = _words(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
    Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
    Patel Myers Long Ross Foster Jimenez Sharma Gupta Singh Kumar Iyer Reddy Chen Wang Zhang Liu
    Huang Tanaka Suzuki Sato Watanabe Park Choi Ali Khan Hassan Rahman Muller Schmidt Schneider
    Fischer Weber Becker Dubois Moreau Laurent Lefebvre Bernard Fernandez Navarro Romero Silva
    Santos Oliveira Costa Pereira Johansson Andersson Nilsson Larsen Hansen Jensen OBrien Byrne
    Walsh Kowalski Nowak Novak Ivanov Petrov Mensah Okafor Adeyemi Nkosi Dlamini Rossi Russo
    Bianchi Romano Ferrari Esposito Jansen DeVries Bakker Visser"""
)

#: Company names are "<word> <core> <suffix>", e.g. "Blue Harbor Analytics Inc".
COMPANY_WORDS: tuple[str, ...] = _words(
    """Blue Red Green Silver Golden Bright North South East West Summit Peak River Harbor Stone
    Iron Oak Pine Cedar Maple Falcon Eagle Hawk Fox Wolf Bear Lion Orbit Nova Stellar Quantum
    Vector Apex Vertex Prime Core Atlas Titan Zenith Horizon Pioneer Frontier Liberty Union
    Pacific Atlantic Alpine Coastal Metro Urban Rapid Swift Clear True Bold Smart Blueprint
    Crimson Azure Cobalt Amber Ivory Onyx Granite Copper Nimbus Cirrus Polar Solar Lunar Terra
    Aqua Vivid Lumen Echo Delta Sigma Omega Kappa Zeta Beacon Lighthouse Anchor Compass Keystone
    Cornerstone Riverbend Highland Lakeside Meadow Willow Birch Aspen Sequoia Redwood Juniper"""
)
COMPANY_CORES: tuple[str, ...] = _words(
    """Analytics Systems Software Labs Networks Solutions Dynamics Logistics Health Capital
    Partners Works Digital Media Robotics Energy Foods Retail Financial Insurance Consulting
    Cloud Data Security Devices Manufacturing Motors Pharma Bio Telecom Learning Realty Travel
    Logic Ventures Industries Technologies Commerce Markets Design Studios"""
)
COMPANY_SUFFIXES: tuple[str, ...] = ("Inc", "LLC", "Ltd", "GmbH", "Corp", "Group", "Co", "SA", "")
TLDS: tuple[str, ...] = ("com", "com", "com", "io", "co", "net", "ai", "tech")

#: Free-mail providers leads sign up with (all of them known to :mod:`scoring.derive`).
FREE_MAIL: tuple[str, ...] = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com",
                              "icloud.com", "aol.com", "gmx.de", "protonmail.com")

#: The tenant's own website and product: where page views and product usage happen.
SITE = "https://www.example.com"
APP_SITE = "https://app.example.com"
#: The tenant's own e-mail domain (its sales reps).
SELLER_DOMAIN = "example.com"

#: Pages by how much a visit says about buying intent.
PAGES_HIGH: tuple[str, ...] = ("/pricing", "/pricing/enterprise", "/demo", "/contact-sales",
                               "/pricing/compare", "/trial")
PAGES_MEDIUM: tuple[str, ...] = (
    "/product", "/product/lead-scoring", "/product/routing", "/integrations/salesforce",
    "/integrations/hubspot", "/customers", "/case-studies/fintech-pipeline",
    "/case-studies/saas-growth", "/docs", "/docs/getting-started", "/docs/api", "/security",
    "/webinars", "/compare/alternatives",
)
PAGES_LOW: tuple[str, ...] = (
    "/", "/about", "/blog", "/blog/what-is-lead-scoring", "/blog/mql-vs-sql",
    "/blog/decay-in-lead-scoring", "/blog/intent-data-guide", "/blog/sales-marketing-alignment",
    "/blog/b2b-funnel-benchmarks-2026", "/blog/crm-hygiene-checklist", "/resources/ebook-scoring",
    "/resources/templates", "/events", "/partners", "/legal/privacy",
)
CAREERS_PAGES: tuple[str, ...] = ("/careers", "/careers/open-positions",
                                  "/careers/software-engineer", "/careers/internships")
APP_PAGES: tuple[str, ...] = ("/dashboard", "/models", "/models/edit", "/leads", "/reports",
                              "/settings/integrations", "/settings/users")

#: Forms by intent tier: (form id, intent tier "high" | "medium" | "low").
FORMS: tuple[tuple[str, str], ...] = (
    ("demo-request", "high"), ("trial-signup", "high"), ("contact-sales", "high"),
    ("content-download", "medium"), ("webinar-registration", "medium"),
    ("newsletter-signup", "low"),
)
#: The page each form lives on.
FORM_PAGES: dict[str, str] = {
    "demo-request": "/demo", "trial-signup": "/trial", "contact-sales": "/contact-sales",
    "content-download": "/resources/ebook-scoring", "webinar-registration": "/webinars",
    "newsletter-signup": "/blog",
}

CAMPAIGN_TYPES: tuple[str, ...] = ("Email", "Webinar", "Content", "Event", "Paid Social",
                                   "Website")
CAMPAIGN_TOPICS: tuple[str, ...] = (
    "Scoring 101", "Pipeline Review", "RevOps Summit", "Product Launch", "Q4 Nurture",
    "Customer Stories", "Intent Signals", "CRM Cleanup", "Partner Spotlight", "Benchmarks Report",
)

LEAD_SOURCES: tuple[tuple[str, float], ...] = (
    ("Web", 30), ("Organic Search", 15), ("Paid Search", 10), ("Referral", 8), ("Event", 8),
    ("Webinar", 7), ("Partner", 5), ("Outbound", 10), ("Social", 5), ("Purchased List", 2),
)

TEAMS: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
TERRITORIES: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
