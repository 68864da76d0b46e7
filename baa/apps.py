from django.apps import AppConfig


class BaaConfig(AppConfig):
    name = "baa"
    verbose_name = "Business associate agreements"
