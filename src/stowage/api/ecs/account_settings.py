"""ECS account settings: PutAccountSetting, PutAccountSettingDefault, ListAccountSettings,
DeleteAccountSetting."""

from __future__ import annotations

from stowage.api.aws.context import RequestContext
from stowage.api.aws.service import Params, Result
from stowage.api.ecs.errors import access_denied, invalid_parameter
from stowage.api.ecs.handler import EcsHandler
from stowage.api.ecs.pagination import decode_token, encode_token, page_size
from stowage.model import account_settings as model
from stowage.model.arns import root_principal_arn
from stowage.model.validation import Invalid
from stowage.resources.account_settings import AccountSettingRecords
from stowage.resources.records import Records


def _principal(ctx: RequestContext, given: str | None) -> str:
    """The principal a request acts on: the caller unless ``principalArn`` names another, which
    only the root user may do."""
    if given is None:
        return ctx.principal_arn
    try:
        principal = model.check_principal(given, ctx.account_id)
    except Invalid as exc:
        raise invalid_parameter(str(exc)) from None
    if principal != ctx.principal_arn and not model.is_root(ctx.principal_arn, ctx.account_id):
        raise access_denied("Only the root user can modify or list account settings of other principals.")
    return principal


def _check(name: str, value: str) -> None:
    try:
        model.check_value(name, value)
    except Invalid as exc:
        raise invalid_parameter(str(exc)) from None


async def put_account_setting(records: Records, ctx: RequestContext, params: Params) -> Result:
    name, value = params["name"], params["value"]
    principal = _principal(ctx, params.get("principalArn"))
    _check(name, value)
    if name in model.ROOT_ONLY and not model.is_root(principal, ctx.account_id):
        raise invalid_parameter(f"The {name} account setting can only be set for the root user.")
    setting = await AccountSettingRecords(records).put(ctx.account_id, ctx.region, principal, name, value)
    return {"setting": setting}


async def put_account_setting_default(records: Records, ctx: RequestContext, params: Params) -> Result:
    name, value = params["name"], params["value"]
    _check(name, value)
    root = root_principal_arn(ctx.account_id)
    setting = await AccountSettingRecords(records).put(ctx.account_id, ctx.region, root, name, value)
    return {"setting": setting}


async def list_account_settings(records: Records, ctx: RequestContext, params: Params) -> Result:
    settings = AccountSettingRecords(records)
    name = params.get("name")
    value = params.get("value")
    if value is not None and name is None:
        raise invalid_parameter("You must specify an account setting name to filter by value.")
    principal = _principal(ctx, params.get("principalArn"))
    limit = page_size(params.get("maxResults"), default=model.MAX_LIST_PAGE, maximum=model.MAX_LIST_PAGE)
    after = decode_token("ListAccountSettings", params.get("nextToken"))
    if params.get("effectiveSettings"):
        found = await settings.effective_all(ctx.account_id, ctx.region, principal)
    else:
        own = await settings.explicit_all(ctx.account_id, ctx.region, principal)
        found = [own[n] for n in model.NAMES if n in own]
    found = [s for s in found if name in (None, s["name"]) and value in (None, s["value"])]
    if after is not None:
        if after not in model.NAMES:
            raise invalid_parameter("Invalid nextToken value.")
        order = model.NAMES.index(after)
        found = [s for s in found if model.NAMES.index(s["name"]) > order]
    result: Result = {"settings": found[:limit]}
    if len(found) > limit:
        result["nextToken"] = encode_token("ListAccountSettings", found[limit - 1]["name"])
    return result


async def delete_account_setting(records: Records, ctx: RequestContext, params: Params) -> Result:
    settings = AccountSettingRecords(records)
    name = params["name"]
    principal = _principal(ctx, params.get("principalArn"))
    removed = await settings.delete(ctx.account_id, ctx.region, principal, name)
    if removed is not None:
        return {"setting": removed}
    # Nothing of the principal's own to remove: answer with what applies to it now, so the
    # call is idempotent.
    return {"setting": await settings.effective(ctx.account_id, ctx.region, principal, name)}


HANDLERS: dict[str, EcsHandler] = {
    "PutAccountSetting": put_account_setting,
    "PutAccountSettingDefault": put_account_setting_default,
    "ListAccountSettings": list_account_settings,
    "DeleteAccountSetting": delete_account_setting,
}
