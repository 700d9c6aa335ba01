"""Staff pages: /platform/nodes/ (register, rotate, revoke gateway nodes; their health)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.http import reveals_secret, take_revealed
from core.paging import paginate
from core.web import done, perform, refusals, submit_form
from gateways import selectors, services
from gateways.forms import NodeForm
from gateways.models import GatewayNode
from gateways.snapshot import current_version


def _page(request: HttpRequest, *, form: NodeForm | None = None, status: int = 200) -> HttpResponse:
    nodes = paginate(request, selectors.nodes(), path=reverse("platform-nodes"))
    selectors.annotate(list(nodes.rows))
    created: dict[str, Any] | None = None
    if request.method == "GET" and (revealed := take_revealed(request)):
        # The node just created or rotated: looked up by id (it may not be on this page).
        node = next((n for n in nodes.rows if n.pk == revealed["node"]), None)
        if node is None:
            node = GatewayNode.objects.filter(pk=revealed["node"]).first()
        created = {**revealed, "node": node} if node else None
    return render(
        request,
        "gateways/nodes.html",
        {
            "nodes": nodes,
            "form": form or NodeForm(),
            "created": created,
            "config_version": current_version(),
            "silent_seconds": settings.GATEWAY_NODE_SILENT_SECONDS,
        },
        status=status,
    )


def _node(pk: int) -> GatewayNode:
    found = selectors.node(pk)
    if found is None:
        raise Http404("No such gateway node.")
    return found


@staff_member_required
@reveals_secret
def nodes(request: HttpRequest) -> HttpResponse:
    """GET: the nodes and their health. POST: register a node; its token is shown once on the next GET."""
    return submit_form(
        request,
        NodeForm(request.POST if request.method == "POST" else None),
        run=lambda data: services.node_create(actor=request.user, **data),  # type: ignore[arg-type]
        check=lambda data: refusals(lambda: services.check_node_name_free(data["name"].strip())),
        success=lambda result: done(request, "", "platform-nodes", reveal={"node": result[0].pk, "token": result[1]}),
        page=lambda form, status: _page(request, form=form, status=status),
    )


@staff_member_required
@require_POST
@reveals_secret
def node_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    node = _node(pk)
    return perform(
        request,
        lambda: services.node_rotate(actor=request.user, node=node),  # type: ignore[arg-type]
        success=lambda result: done(
            request, "", "platform-nodes", reveal={"node": result[0].pk, "token": result[1], "rotated": True}
        ),
        failure=lambda error: _page(request, status=error.status_code),
    )


@staff_member_required
@require_POST
def node_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    node = _node(pk)
    return perform(
        request,
        lambda: services.node_revoke(actor=request.user, node=node),  # type: ignore[arg-type]
        success=lambda _: done(
            request, f"Node “{node.name}” revoked; its token is refused from now on.", "platform-nodes"
        ),
        failure=lambda error: _page(request, status=error.status_code),
    )
