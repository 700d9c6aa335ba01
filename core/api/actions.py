"""One shape for REST verbs that run a service: validate the body, run, answer with the result.

Every write verb (``create``, ``update``, and ``@action``s such as approve, reject, rotate,
revoke, archive, accept…) goes through ``ServiceActionMixin.run_service``, so they all answer
the same way: 400 in the error shape for a bad body (before the service runs), the service's
typed error otherwise (403/404/409 via ``core.api.errors``), and the output serializer with
the verb's status on success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rest_framework import serializers, status
from rest_framework.response import Response

T = TypeVar("T")


class ServiceActionMixin:
    """For DRF views and viewsets; needs only ``self.request``."""

    request: Any  # Request; typed loosely so it combines with DRF's view classes

    def run_service(
        self,
        run: Callable[..., T],
        *,
        output: type[serializers.BaseSerializer] | Callable[[T], Any] | None,
        input: type[serializers.BaseSerializer] | None = None,
        status_code: int = status.HTTP_200_OK,
        partial: bool = False,
    ) -> Response:
        """Validate ``request.data`` with ``input`` (if any), call ``run(**validated_data)``, answer.

        ``output`` is a serializer class (instantiated with the result), a function of the result
        returning the body, or ``None`` for an empty body (e.g. 204).
        """
        data: dict[str, Any] = {}
        if input is not None:
            serializer = input(data=self.request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
        result = run(**data)
        if output is None:
            return Response(status=status_code)
        if isinstance(output, type) and issubclass(output, serializers.BaseSerializer):
            body = output(result).data
        else:
            body = output(result)  # type: ignore[call-arg]  # a plain callable, not a serializer
        return Response(body, status=status_code)
