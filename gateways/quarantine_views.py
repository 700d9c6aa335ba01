"""Staff pages: /platform/quarantine/ (records the intake refused, filterable) and one record's detail."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.paging import paginate
from gateways import quarantine
from gateways.models import QuarantinedRecord

PAGE_SIZE = 50


@staff_member_required
def quarantine_list(request: HttpRequest) -> HttpResponse:
    filterset = quarantine.QuarantineFilterSet(request.GET, queryset=quarantine.quarantined())
    # A bad filter is shown as an error above the unfiltered list, and the page answers 400.
    valid = filterset.is_valid()
    records = filterset.qs if valid else filterset.queryset
    page = paginate(request, records, size=PAGE_SIZE)
    return render(
        request,
        "gateways/quarantine.html",
        {
            "page": page,
            "filter_errors": [f"{name}: {error}" for name, errors in filterset.errors.items() for error in errors],
            "filters": filterset.form.cleaned_data if valid else {},
            "nodes": quarantine.nodes(),
            "reasons": quarantine.reasons(),
        },
        status=200 if valid else 400,
    )


@staff_member_required
def quarantine_detail(request: HttpRequest, pk: int) -> HttpResponse:
    record = quarantine.quarantined().filter(pk=pk).first()
    if record is None:
        raise Http404("No such quarantined record.")
    return render(
        request,
        "gateways/quarantine_detail.html",
        {"record": record, "raw_max": QuarantinedRecord.RAW_MAX_CHARS},
    )
