from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
