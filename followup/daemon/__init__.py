"""The daemon: APScheduler's life cycle, its jobs, and the services the CLI shares with it."""
