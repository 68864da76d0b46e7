"""Contact imports (upload, column mapping, live progress, cancel) and the CSV export."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.services import actor_for_request
from authn.stepup import require_step_up
from consent.purposes import purposes_for
from encryption.selectors import keys_destroyed
from segments.attributes import dictionary_for
from segments.csv_io import CsvFormatError, body_too_large, max_upload_bytes, too_large_message
from segments.imports import (
    CONTACT_FIELDS,
    RUNNING,
    ImportInputError,
    contact_export_count,
    contact_export_csv,
    contact_export_record,
    contact_import_get,
    import_cancel,
    import_columns,
    import_create,
    import_progress,
    import_start,
)
from segments.models import ContactImport, ImportStatus
from segments.upload_handlers import EncryptingUploadHandler, StoredUpload, discard_stored_upload, use_encrypting_upload
from tenants.access import require_permission
from tenants.http import TenantRequest

IMPORTS_LISTED = 50
FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "external_id": "External id (EHR)",
    "language": "Language",
    "time_zone": "Time zone",
    "tags": "Tags (comma-separated)",
}


def _list(request: TenantRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    imports = ContactImport.objects.for_tenant(request.tenant).select_related("created_by")[:IMPORTS_LISTED]
    context = {"imports": imports, "error": error, "max_mb": max_upload_bytes() // (1024 * 1024)}
    return render(request, "segments/import_list.html", context, status=status)


# The upload handlers must be in place before anything parses the body, and the CSRF check
# parses it (for the token field): so CSRF is exempted here and checked by the inner view, as
# Django's documentation on changing upload handlers in a view describes.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@require_permission("contacts.import")
def import_list_view(request: TenantRequest) -> HttpResponse:
    if request.method == "GET":
        return _list(request)
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    # Checked on the declared length: the upload handler has not read an oversized file.
    if body_too_large(request.META):
        return _list(request, error=too_large_message(max_upload_bytes()), status=413)
    # The file is encrypted as it arrives: no plaintext copy on disk (segments.upload_handlers).
    handler = use_encrypting_upload(request)
    response = _import_upload(request, handler)
    if response.status_code != 302:
        discard_stored_upload(request)  # a refused request keeps nothing
    return response


@csrf_protect
def _import_upload(request: TenantRequest, handler: EncryptingUploadHandler) -> HttpResponse:
    upload = request.FILES.get("file")
    if handler.error is not None:
        return _list(request, error=f"Nothing was imported: {handler.error}", status=400)
    if not isinstance(upload, StoredUpload):
        return _list(request, error="Choose a CSV file to upload.", status=400)
    try:
        contact_import = import_create(
            tenant=request.tenant, actor=actor_for_request(request), user=request.user, stored=upload
        )
    except CsvFormatError as error:
        return _list(request, error=f"Nothing was imported: {error}", status=400)
    return redirect("segments:import_detail", import_id=contact_import.pk)


def _targets(tenant: object) -> list[tuple[str, str]]:
    dictionary = dictionary_for(tenant=tenant)  # type: ignore[arg-type]
    targets = [(name, FIELD_LABELS[name]) for name in CONTACT_FIELDS]
    targets += [
        (key, f"{definition.label} ({key}{', PHI' if definition.is_phi else ''})")
        for key, definition in dictionary.items()
    ]
    targets += [
        (f"consent.{purpose.key}", f"Consent: {purpose.name} (granted / revoked)")
        for purpose in purposes_for(tenant=tenant)  # type: ignore[arg-type]
    ]
    return targets


@require_http_methods(["GET", "POST"])
@require_permission("contacts.import")
def import_detail_view(request: TenantRequest, import_id: uuid.UUID) -> HttpResponse:
    contact_import = contact_import_get(tenant=request.tenant, import_id=import_id)
    context: dict[str, object] = {"import": contact_import}
    if contact_import.status == ImportStatus.UPLOADED:
        try:
            columns = import_columns(tenant=request.tenant, contact_import=contact_import)
        except CsvFormatError as error:
            columns = []
            context["error"] = str(error)
        mapping = dict(contact_import.mapping or {})
        match_on = contact_import.match_on
        if request.method == "POST" and columns:
            mapping = {column: request.POST.get(f"map-{index}", "") for index, column in enumerate(columns)}
            match_on = request.POST.get("match_on", "")
            try:
                import_start(
                    tenant=request.tenant,
                    actor=actor_for_request(request),
                    contact_import=contact_import,
                    mapping=mapping,
                    match_on=match_on,
                )
            except ImportInputError as error:
                context["error"] = str(error)
            else:
                return redirect("segments:import_detail", import_id=contact_import.pk)
        context["columns"] = [
            {"index": index, "name": column, "target": mapping.get(column, "")} for index, column in enumerate(columns)
        ]
        context["targets"] = _targets(request.tenant)
        context["match_on"] = match_on
        return render(request, "segments/import_mapping.html", context, status=400 if "error" in context else 200)
    if request.method == "POST":
        return redirect("segments:import_detail", import_id=contact_import.pk)
    return render(request, "segments/import_detail.html", _progress_context(contact_import))


def _progress_context(contact_import: ContactImport) -> dict[str, object]:
    processed, total = import_progress(contact_import)
    percent = int(processed * 100 / total) if total and contact_import.status == ImportStatus.IMPORTING else 0
    if contact_import.status == ImportStatus.DONE:
        percent = 100
    return {
        "import": contact_import,
        "processed": processed,
        "total": total,
        "percent": percent,
        "running": contact_import.status in RUNNING,
        "ended_at": contact_import.finished_at or timezone.now(),
    }


@require_GET
@require_permission("contacts.import")
def import_progress_view(request: TenantRequest, import_id: uuid.UUID) -> HttpResponse:
    contact_import = contact_import_get(tenant=request.tenant, import_id=import_id)
    return render(request, "segments/import_progress.html", _progress_context(contact_import))


@require_POST
@require_permission("contacts.import")
def import_cancel_view(request: TenantRequest, import_id: uuid.UUID) -> HttpResponse:
    contact_import = contact_import_get(tenant=request.tenant, import_id=import_id)
    if import_cancel(tenant=request.tenant, actor=actor_for_request(request), contact_import=contact_import):
        messages.success(request, "Cancelling: nothing from this file will be imported.")
    else:
        messages.error(request, "This import had already ended.")
    return redirect("segments:import_detail", import_id=contact_import.pk)


@require_GET
@require_permission("contacts.export")
@require_step_up
def contact_export_view(request: TenantRequest) -> HttpResponse:
    """All contacts (optionally those with a tag) with their PHI, streamed in keyset batches."""
    if keys_destroyed(tenant=request.tenant):
        return render(request, "segments/keys_destroyed.html", status=410)
    tag = request.GET.get("tag", "")[:64]
    count = contact_export_count(tenant=request.tenant, tag=tag)
    contact_export_record(tenant=request.tenant, actor=actor_for_request(request), count=count, tag=tag)
    response = StreamingHttpResponse(contact_export_csv(tenant=request.tenant, tag=tag), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="contacts-{request.tenant.slug}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]  # streamed: the decorators only pass it through
