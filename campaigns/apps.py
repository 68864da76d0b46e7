from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        # Due-work handlers register themselves on import; every process that runs due work
        # (workers, tests, the embedded runner) must have them.
        import campaigns.journeys  # noqa: F401
