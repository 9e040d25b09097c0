"""The current Composio SDK's wire generation (``composio`` >= 0.8): ``/api/v3`` and ``/api/v3.1``.

``Composio(...).tools.execute(slug, arguments, user_id=..., version=...)`` sends
``GET /api/v3.1/tools/{slug}`` (once per client and slug, for the schema) and then
``POST /api/v3.1/tools/execute/{slug}`` with ``{"user_id", "version", "arguments"}`` and, when
given, ``connected_account_id``. ``tools.get(...)`` lists ``GET /api/v3.1/tools``. The same
routes are served under ``/api/v3`` for clients of that version.

How this generation fails:

* errors are ``{"error": {"message", "code", "slug", "status"}}`` and the SDK raises a typed
  status error (``AuthenticationError``, ``BadRequestError``, ``RateLimitError``, ...; a 404 on
  the schema lookup becomes ``ToolNotFoundError``), all ``ComposioError`` subclasses;
* no ACTIVE connected account (none, or only an EXPIRED one) is a ``400`` whose slug says which
  (``ActionExecute_ConnectedAccountNotFound``, code 1803, is Composio's own;
  ``ActionExecute_ConnectedAccountNotActive`` is the sandbox's name for the expired case);
* invalid arguments and app refusals are ``200`` with ``successful: false`` and the reason in
  ``error``; the SDK returns that dict rather than raising;
* a version the tool does not have is a ``400``; an omitted version means ``latest``, which the
  SDK itself refuses to send unless told to (``ToolVersionRequiredError``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from crs._dialects import COMPOSIO
from crs.sandbox._composio_catalog import APPS, TOOLKIT_VERSION, ToolSpec
from crs.sandbox._composio_wire import api_key_problem
from crs.sandbox._composio_world import AccountUnavailable, ComposioWorld, UnknownTool
from crs.sandbox._http import ApiFamily, BadRequest, guard, json_response, read_json_object
from crs.sandbox._state import SandboxState

__all__ = ["FAMILY", "routes"]

_PREFIXES = ("/api/v3", "/api/v3.1")
_ACCEPTED_VERSIONS = ("latest", TOOLKIT_VERSION)

FAMILY = ApiFamily(COMPOSIO)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The current SDK's endpoints under both prefixes, with full paths, bound to ``state``."""
    world = state.composio

    authed = guard(FAMILY, lambda request: api_key_problem(request, state.api_key))

    async def get_tool(request: Request) -> Response:
        slug = request.path_params["slug"]
        version = request.query_params.get("version")
        if version is not None and version not in _ACCEPTED_VERSIONS:
            return _version_error(slug, version)
        try:
            return json_response(_tool(world.tool(slug)))
        except UnknownTool as exc:
            return FAMILY.error(404, str(exc), code="Tool_NotFound")

    async def list_tools(request: Request) -> Response:
        return json_response(_tool_page(request, world))

    async def execute(request: Request) -> Response:
        return await _execute(request, world)

    served: list[BaseRoute] = []
    for prefix in _PREFIXES:
        served += [
            Route(f"{prefix}/tools", authed(list_tools), methods=["GET"]),
            Route(f"{prefix}/tools/execute/{{slug}}", authed(execute), methods=["POST"]),
            Route(f"{prefix}/tools/{{slug}}", authed(get_tool), methods=["GET"]),
        ]
    return served


async def _execute(request: Request, world: ComposioWorld) -> Response:
    slug = request.path_params["slug"]
    try:
        tool = world.tool(slug)
    except UnknownTool as exc:
        return FAMILY.error(404, str(exc), code="Tool_NotFound")
    body = await read_json_object(request)
    arguments = body.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise BadRequest(
            f"'arguments' must be a JSON object, got {type(arguments).__name__}",
            code="ActionExecute_InvalidRequest",
        )
    version = body.get("version") or "latest"
    if version not in _ACCEPTED_VERSIONS:
        return _version_error(tool.slug, version)
    user_id = body.get("user_id") or body.get("entity_id")
    account_id = body.get("connected_account_id")
    for name, value in (("user_id", user_id), ("connected_account_id", account_id)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(
                f"'{name}' must be a string, got {type(value).__name__}",
                code="ActionExecute_InvalidRequest",
            )
    try:
        result = world.execute(
            tool.slug, arguments, user_id=user_id, account_id=account_id, api=FAMILY.name
        )
    except AccountUnavailable as exc:
        return FAMILY.error(400, exc.message, code=exc.slug)
    log_id = f"log_{result.execution.seq:012d}"
    return json_response(
        COMPOSIO.execution_result(
            result.data, result.error, successful=result.successful, log_id=log_id
        )
    )


def _version_error(slug: str, version: object) -> Response:
    return FAMILY.error(
        400,
        f"Version {version!r} of tool {slug.upper()} not found; "
        f"available: {', '.join(_ACCEPTED_VERSIONS)}",
        code="ActionExecute_VersionNotFound",
    )


def _tool_page(request: Request, world: ComposioWorld) -> dict[str, Any]:
    query = request.query_params
    slugs = {s.strip().upper() for s in query.get("tool_slugs", "").split(",") if s.strip()}
    toolkits = [s.strip() for s in query.get("toolkit_slug", "").split(",") if s.strip()]
    words = (query.get("query") or query.get("search") or "").lower().split()
    tags = set(query.getlist("tags"))
    tools = [
        tool
        for tool in world.tools(toolkits or None)
        if (not slugs or tool.slug in slugs)
        and (not tags or tags & set(tool.tags))
        and all(word in f"{tool.slug} {tool.name} {tool.description}".lower() for word in words)
    ]
    limit = query.get("limit", "")
    if limit.replace(".", "", 1).isdigit() and float(limit) >= 1:
        tools = tools[: int(float(limit))]
    return {
        "items": [_tool(tool) for tool in tools],
        "current_page": 1,
        "total_items": len(tools),
        "total_pages": 1,
        "next_cursor": None,
    }


def _tool(tool: ToolSpec) -> dict[str, Any]:
    spec = APPS[tool.app]
    return {
        "slug": tool.slug,
        "name": tool.name,
        "description": tool.description,
        "human_description": tool.description,
        "input_parameters": tool.input_parameters,
        "output_parameters": tool.output_schema,
        "no_auth": False,
        "available_versions": [TOOLKIT_VERSION],
        "version": TOOLKIT_VERSION,
        "deprecated": {
            "available_versions": [TOOLKIT_VERSION],
            "displayName": tool.name,
            "is_deprecated": False,
            "toolkit": {"logo": spec.logo},
            "version": TOOLKIT_VERSION,
        },
        "is_deprecated": False,
        "scopes": list(tool.scopes),
        "scope_requirements": None,
        "tags": list(tool.tags),
        "toolkit": {"slug": spec.slug, "name": spec.display_name, "logo": spec.logo},
    }
