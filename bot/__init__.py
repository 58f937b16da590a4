"""pufa-bot: the application package (configuration, data layer, core, channels, services)."""
