"""Base viewset for lab records: thin adapter over services and selectors.

* list/retrieve read from a selector (prefetches pinned, retired rows hidden unless
  ``?include_retired=true``);
* create calls ``create_service(validated_data, actor)``;
* update requires the ``version`` the client read (409 on conflict) and calls ``update_service``;
* DELETE never deletes: it retires the record with ``?reason=`` (or a JSON ``reason``);
* a retired record is read-only (409 naming who retired it, why and when) until
  ``POST …/<id>/restore/`` with a ``reason`` (owner or curator) brings it back.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from labdb.lib.api_schema import LabRecordSchema
from labdb.lib.errors import DomainError
from labdb.lib.records import (
    create_record,
    require_active,
    restore_record,
    retire_record,
    update_record,
)


def include_retired(request) -> bool:
    raw = request.query_params.get("include_retired", "false").lower()
    if raw not in {"true", "false", "1", "0"}:
        raise DomainError("include_retired: expected true or false.", field="include_retired")
    return raw in {"true", "1"}


class LabRecordSerializer(serializers.ModelSerializer):
    """Adds the common read-only record fields."""

    version = serializers.IntegerField(required=False, help_text="Send back on update.")
    owner = serializers.PrimaryKeyRelatedField(read_only=True)
    is_retired = serializers.BooleanField(read_only=True)
    retired_reason = serializers.CharField(read_only=True)

    COMMON = ("id", "version", "owner", "is_retired", "retired_reason", "created_at", "updated_at")


class RestoreSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the record comes back (kept in its history).")


class LabRecordViewSet(viewsets.ModelViewSet):
    schema = LabRecordSchema()  # DELETE answers 200 with the retired record
    selector = None  # callable(include_retired: bool) -> QuerySet
    # Writes find retired records too, so that they are refused with 409 (not a 404).
    RETIRED_VISIBLE_ACTIONS = frozenset({"update", "partial_update", "destroy", "restore"})
    nested_fields: tuple[str, ...] = ()
    # Nested lists (a sample's layers, a recipe's steps…) a form or multipart body cannot carry:
    # writes then accept JSON only (415 otherwise), never a record created without them. The
    # OpenAPI schema follows (drf-spectacular reads get_parsers): application/json only.
    json_body_fields: tuple[str, ...] = ()

    def get_parsers(self):
        if self.json_body_fields:
            return [JSONParser()]
        return super().get_parsers()

    def handle_exception(self, exc):
        if isinstance(exc, UnsupportedMediaType) and self.json_body_fields:
            got = self.request.content_type.split(";")[0] or "no content type"
            exc = UnsupportedMediaType(got, detail=(
                f"body: expected application/json (the nested {', '.join(self.json_body_fields)} "
                f"cannot be sent as a form); got {got}."))
        return super().handle_exception(exc)

    def get_queryset(self):
        include = (getattr(self, "action", None) in self.RETIRED_VISIBLE_ACTIONS
                   or include_retired(self.request))
        return type(self).selector(include_retired=include)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("version", None)
        created = self.create_service(data, self.request.user)
        # Read back through the selector: its annotations (max_setpoint_c …) are in the answer.
        serializer.instance = self.get_queryset().filter(pk=created.pk).first() or created

    def create_service(self, data: dict, actor):
        nested = {name: data.pop(name) for name in self.nested_fields if name in data}
        if nested:
            raise DomainError(f"{', '.join(nested)}: nested writes are not supported here.")
        return create_record(model=self.get_queryset().model, data=data, actor=actor)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        require_active(instance)  # before any field check: retired means read-only (409)
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        expected = data.pop("version", None)
        if expected is None and request.headers.get("If-Match"):
            try:
                expected = int(request.headers["If-Match"].strip('"W/'))
            except ValueError:
                raise DomainError(
                    "If-Match: expected the record version number.", field="version"
                ) from None
        updated = self.update_service(instance, data, expected, request.user)
        fresh = self.get_queryset().get(pk=updated.pk)
        return Response(self.get_serializer(fresh).data)

    def update_service(self, instance, data: dict, expected_version, actor):
        nested = [name for name in self.nested_fields if name in data]
        if nested:
            raise DomainError(f"{', '.join(nested)}: nested updates are not supported here.")
        return update_record(instance, changes=data, expected_version=expected_version, actor=actor)

    @extend_schema(parameters=[OpenApiParameter(
        "reason", str, required=False,
        description="Why the record is retired (kept in its history); or a JSON body "
                    '{"reason": …}.')])
    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        reason = request.query_params.get("reason") or (
            request.data.get("reason") if hasattr(request.data, "get") else None
        )
        retired = retire_record(instance, reason=reason or "", actor=request.user)
        return Response(self.get_serializer(retired).data, status=status.HTTP_200_OK)

    @extend_schema(request=RestoreSerializer, description=(
        "Bring a retired record back (its owner or a curator), with a reason kept in its "
        "history; 400 if it is not retired."))
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def restore(self, request, *args, **kwargs):
        instance = self.get_object()
        shape = RestoreSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        restored = restore_record(instance, reason=shape.validated_data["reason"],
                                  actor=request.user)
        fresh = self.get_queryset().get(pk=restored.pk)
        return Response(self.get_serializer(fresh).data)
