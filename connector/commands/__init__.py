"""Each module here registers its subcommands on :data:`connector.app.app` when imported."""
