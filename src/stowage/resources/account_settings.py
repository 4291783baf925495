"""Account setting records: one per (principal, name), plus the account defaults.

Settings of the root user are the account defaults (ECS documents that setting the root user
changes the default for every principal without its own setting), so both live under the
``default`` principal key.
"""

from __future__ import annotations

from stowage.model import account_settings as model
from stowage.model.arns import root_principal_arn
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Records

DEFAULT = "default"


def _principal_key(account: str, principal_arn: str) -> str:
    return DEFAULT if model.is_root(principal_arn, account) else principal_arn


class AccountSettingRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def explicit(self, account: str, region: str, principal_arn: str, name: str) -> Doc | None:
        rec = await self.records.get(
            ecs_keys.account_setting(account, region, _principal_key(account, principal_arn), name)
        )
        return None if rec is None else rec.doc

    async def put(self, account: str, region: str, principal_arn: str, name: str, value: str) -> Doc:
        key_principal = _principal_key(account, principal_arn)
        shown = root_principal_arn(account) if key_principal == DEFAULT else principal_arn
        doc: Doc = {"name": name, "value": value, "principalArn": shown, "type": "user"}
        await self.records.put(ecs_keys.account_setting(account, region, key_principal, name), doc)
        return doc

    async def delete(self, account: str, region: str, principal_arn: str, name: str) -> Doc | None:
        """Remove the principal's own setting; returns it, or None if it had none."""
        key = ecs_keys.account_setting(account, region, _principal_key(account, principal_arn), name)
        rec = await self.records.get(key)
        if rec is None:
            return None
        await self.records.delete(key)
        return rec.doc

    async def explicit_all(self, account: str, region: str, principal_arn: str) -> dict[str, Doc]:
        """The principal's own settings by name (for the root user: the account defaults)."""
        prefix = f"{ecs_keys.account_settings(account, region)}{_principal_key(account, principal_arn)}/"
        recs, _ = await self.records.list(prefix)
        # A user path may continue the prefix ("user/a/" vs "user/a/b/x"): keep direct children.
        return {r.doc["name"]: r.doc for r in recs if "/" not in r.key[len(prefix) :]}

    async def effective(self, account: str, region: str, principal_arn: str, name: str) -> Doc:
        """What applies to the principal: its own, else the account default, else AWS's."""
        own = await self.explicit(account, region, principal_arn, name)
        if own is not None:
            return own
        default = await self.explicit(account, region, root_principal_arn(account), name)
        if default is not None:
            return {**default, "principalArn": principal_arn}
        return {
            "name": name,
            "value": model.AWS_DEFAULTS[name],
            "principalArn": principal_arn,
            "type": "aws_managed",
        }

    async def effective_all(self, account: str, region: str, principal_arn: str) -> list[Doc]:
        own = await self.explicit_all(account, region, principal_arn)
        defaults = await self.explicit_all(account, region, root_principal_arn(account))
        out: list[Doc] = []
        for name in model.NAMES:
            if name in own:
                out.append(own[name])
            elif name in defaults:
                out.append({**defaults[name], "principalArn": principal_arn})
            else:
                out.append(
                    {
                        "name": name,
                        "value": model.AWS_DEFAULTS[name],
                        "principalArn": principal_arn,
                        "type": "aws_managed",
                    }
                )
        return out
