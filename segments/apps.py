from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Audience"

    def ready(self) -> None:
        from segments import checks  # noqa: F401 - registers the system check
