"""composio-core 0.7.x's wire generation: ``/api/v1`` and ``/api/v2``.

One ``ComposioToolSet.execute_action`` in composio-core 0.7.22 sends, in order: the API-key
check (``GET /api/v1/client/auth/client_info``, once per process and key), the action's
metadata for its enum cache (``GET /api/v2/actions/{SLUG}`` and ``GET /api/v1/apps/{app}``,
unless cached on disk), the app's action schemas (``GET /api/v2/actions?apps=...``), the
connected accounts twice (``GET /api/v1/connectedAccounts``: all of them, then the entity's
ACTIVE ones), and ``POST /api/v2/actions/{SLUG}/execute``. Every body here is what its pydantic
model (``ActionModel``, ``AppModel``, ``ConnectedAccountModel``) accepts.

How this generation fails, because the SDK turns each shape into a different exception:

* any non-200 becomes ``composio.exceptions.HTTPError(status_code=...)``; a 401 on the key
  check becomes ``ApiKeyError("API Key is not valid!")``;
* an EXPIRED account is filtered out by ``showActiveOnly=true``, so the SDK itself raises
  ``NoItemsFound`` before executing; an explicit ``connected_account_id`` reaches execute, which
  answers 400;
* invalid arguments and app refusals are ``200`` with ``successfull: false`` (sic; the key
  ``successful`` is sent too) and the reason in ``error``.

Error bodies are flat: ``{"message", "code", "slug", "status"}``, the shape of Composio's
header-less rate-limit body ``{"code": 10429, "slug": "HTTP_TooManyRequests"}``. They never echo
the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crs._dialects import COMPOSIO_CORE
from crs.sandbox._composio_catalog import APPS, CORE_VERSION, AppSpec, ToolSpec
from crs.sandbox._composio_wire import api_key_problem
from crs.sandbox._composio_world import AccountUnavailable, ComposioWorld, UnknownTool
from crs.sandbox._http import ApiFamily, BadRequest, guard, json_response, read_json_object
from crs.sandbox._state import SandboxState

__all__ = ["FAMILY", "routes"]

_ACCEPTED_VERSIONS = ("latest", "latest:base", CORE_VERSION)

FAMILY = ApiFamily(COMPOSIO_CORE)


def routes(state: SandboxState) -> list[BaseRoute]:
    """composio-core's endpoints, with full paths, bound to ``state``."""
    world = state.composio

    authed = guard(FAMILY, lambda request: api_key_problem(request, state.api_key))

    async def client_info(_request: Request) -> Response:
        return json_response(
            {
                "client": {"id": "sandbox", "name": "crs sandbox", "plan": "HOBBY"},
                "apiKey": {"name": "sandbox", "isValid": True},
            }
        )

    async def list_apps(_request: Request) -> Response:
        return json_response({"items": [_app(spec, world) for spec in APPS.values()]})

    async def get_app(request: Request) -> Response:
        spec = APPS.get(request.path_params["app"].lower())
        if spec is None:
            return FAMILY.error(404, f"App {request.path_params['app']!r} not found")
        return json_response(_app(spec, world))

    async def list_actions(request: Request) -> Response:
        apps = _csv(request.query_params.get("apps"))
        tools = world.tools(apps or None)
        limit = request.query_params.get("limit")
        if limit is not None and limit.isdigit():
            tools = tools[: int(limit)]
        items = [_action(tool) for tool in tools]
        return json_response({"items": items, "page": 1, "totalPages": 1})

    async def get_action(request: Request) -> Response:
        slug = request.path_params["slug"]
        try:
            return json_response(_action(world.tool(slug)))
        except UnknownTool:
            return FAMILY.error(404, f"Action {slug} not found")

    async def list_accounts(request: Request) -> Response:
        query = request.query_params
        accounts = world.accounts(
            user_ids=_csv(query.get("user_uuid")) or None,
            apps=_csv(query.get("appNames")) or None,
            active_only=query.get("showActiveOnly", "").lower() == "true",
        )
        size = int(query["pageSize"]) if query.get("pageSize", "").isdigit() else 20
        page = int(query["page"]) if query.get("page", "").isdigit() else 1
        size, page = max(size, 1), max(page, 1)
        items = [_account(a) for a in accounts[(page - 1) * size : page * size]]
        pages = max(1, -(-len(accounts) // size))
        return json_response({"items": items, "page": page, "totalPages": pages})

    async def get_account(request: Request) -> Response:
        found = world.account(request.path_params["account_id"])
        if found is None:
            message = f"Connected account {request.path_params['account_id']!r} not found"
            return FAMILY.error(404, message, code="ConnectedAccount_ResourceNotFound")
        return json_response(_account(found))

    async def execute(request: Request) -> Response:
        return await _execute(request, world)

    return [
        Route("/api/v1/client/auth/client_info", authed(client_info), methods=["GET"]),
        Route("/api/v1/apps", authed(list_apps), methods=["GET"]),
        Route("/api/v1/apps/{app}", authed(get_app), methods=["GET"]),
        Route("/api/v2/actions", authed(list_actions), methods=["GET"]),
        Route("/api/v2/actions/{slug}", authed(get_action), methods=["GET"]),
        Route("/api/v2/actions/{slug}/execute", authed(execute), methods=["POST"]),
        Route("/api/v1/connectedAccounts", authed(list_accounts), methods=["GET"]),
        Route("/api/v1/connectedAccounts/{account_id}", authed(get_account), methods=["GET"]),
    ]


async def _execute(request: Request, world: ComposioWorld) -> Response:
    slug = request.path_params["slug"]
    try:
        tool = world.tool(slug)
    except UnknownTool:
        return FAMILY.error(404, f"Action {slug} not found")
    body = await read_json_object(request)
    arguments = body.get("input", {})
    if not isinstance(arguments, dict):
        raise BadRequest(f"'input' must be a JSON object, got {type(arguments).__name__}")
    version = body.get("version") or "latest:base"
    if version not in _ACCEPTED_VERSIONS:
        return FAMILY.error(
            400,
            f"Version {version!r} of action {tool.slug} not found; "
            f"available: {', '.join(_ACCEPTED_VERSIONS)}",
            code="ActionExecute_VersionNotFound",
        )
    account_id = body.get("connectedAccountId") or None
    user_id = body.get("entityId") or (None if account_id else "default")
    try:
        result = world.execute(
            tool.slug,
            arguments,
            user_id=user_id if isinstance(user_id, str) else None,
            account_id=account_id if isinstance(account_id, str) else None,
            api=FAMILY.name,
        )
    except AccountUnavailable as exc:
        return FAMILY.error(400, exc.message, code=exc.slug)
    return json_response(
        COMPOSIO_CORE.execution_result(result.data, result.error, successful=result.successful)
    )


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _app(spec: AppSpec, world: ComposioWorld) -> dict[str, Any]:
    return {
        "name": spec.name,
        "key": spec.slug,
        "appId": spec.app_id,
        "displayName": spec.display_name,
        "description": spec.description,
        "categories": list(spec.categories),
        "meta": {
            "actionsCount": len(world.tools([spec.slug])),
            "triggersCount": 0,
            "is_custom_app": False,
        },
        "logo": spec.logo,
        "docs": "",
        "status": "ACTIVE",
        "enabled": True,
        "no_auth": False,
        "auth_schemes": [
            {
                "scheme_name": f"{spec.slug}_oauth",
                "auth_mode": spec.auth_scheme,
                "fields": [],
                "default_scopes": list(spec.scopes),
            }
        ],
        "testConnectors": [],
    }


def _action(tool: ToolSpec) -> dict[str, Any]:
    spec = APPS[tool.app]
    return {
        "name": tool.slug,
        "enum": tool.slug,
        "display_name": tool.name,
        "description": tool.description,
        "parameters": tool.input_parameters,
        "response": tool.output_schema,
        "appName": tool.app,
        "appKey": tool.app,
        "appId": spec.app_id,
        "logo": spec.logo,
        "version": CORE_VERSION,
        "available_versions": [CORE_VERSION],
        "tags": list(tool.tags),
        "enabled": True,
        "deprecated": False,
        "no_auth": False,
    }


def _account(account: Mapping[str, Any]) -> dict[str, Any]:
    spec = APPS[account["app"]]
    return {
        "id": account["uuid"],
        "status": account["status"],
        "createdAt": account["created_at"],
        "updatedAt": account["updated_at"],
        "appUniqueId": spec.slug,
        "appName": spec.slug,
        "integrationId": account["integration_id"],
        "connectionParams": {"scope": " ".join(spec.scopes), "base_url": spec.base_url},
        "clientUniqueUserId": account["user_id"],
        "entityId": account["user_id"],
        "enabled": account["status"] == "ACTIVE",
        "labels": [],
        "logo": spec.logo,
    }
