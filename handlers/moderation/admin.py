"""Admins' moderation commands (by account id; others get a polite refusal).

``#警告 @x``, ``#踢 @x``, ``#拉黑 @x`` open a case of the admin's own (the
same ladder texts, the same audit); ``#解封 <id>``, ``#白名单 @x``;
``#误判 <case>`` undoes a case (strike cleared, unblocked, a removed member
re-invited through the governor, the classifier taught), ``#广告 <case>``
confirms one (the classifier taught), and as a quote reply marks the quoted
message an ad and acts on its sender (``handlers.moderation.quoted``);
``#开启管理`` / ``#关闭管理`` switch the
group between enforcing and shadow mode.  Never an owner or an admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.vocab.actions import AddMember, Priority
from bot.vocab.effects import Effect
from handlers.base import Context, Result
from handlers.command_router import Reply
from handlers.moderation.ads import OpenCase, feature
from handlers.moderation.detector.results import CheckResult, Decision, Verdict
from handlers.moderation.quoted import mark_quoted
from handlers.moderation.runtime import runtime
from handlers.parsing import Command
from handlers.services import Services

NOT_ON_ADMINS = "不能对群主或群管执行这个操作。"
WHO = "请 @ 要处理的成员，例如：{prefix}{name} @某人"
QUOTE_OR_CASE = "用法：{prefix}广告 案件号；或长按一条消息选“引用”，再发送 {prefix}广告"


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoCase(Effect):
    case_id: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmCase(Effect):
    case_id: int
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMode(Effect):
    room: str
    mode: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Unblock(Effect):
    member_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowMember(Effect):
    room: str
    member_id: str
    by: str


# ----------------------------------------------------------- by-hand cases


async def _by_hand(cmd: Command, ctx: Context, rung: str, what: str) -> Reply | str:
    assert ctx.policy is not None and cmd.room_id is not None
    if len(cmd.mentions) != 1:
        return WHO.format(prefix=cmd.prefix, name=cmd.name)
    member = cmd.mentions[0]
    membership = await ctx.repo.get_membership(cmd.room_id, member)
    if member in ctx.policy.admins or (membership is not None and membership.role != "member"):
        return NOT_ON_ADMINS
    verdict = Verdict(
        1.0, Decision.AD, (CheckResult("admin", True, 1.0, f"群管 {cmd.sender_id} {what}"),)
    )
    case = OpenCase(
        room=cmd.room_id,
        member_id=member,
        member_name="",
        message_id=None,
        rule="manual",
        verdict=verdict,
        text=cmd.args or what,
        rung=rung,
        by=cmd.sender_id,
        reason=f"admin {cmd.sender_id}: {what}",
    )
    return Reply(f"好的，已{what}。", effects=[case])


@feature.command("警告", admin_only=True)
async def warn(cmd: Command, ctx: Context) -> Reply | str:
    return await _by_hand(cmd, ctx, "warn", "警告")


@feature.command("踢", "移出", admin_only=True)
async def kick(cmd: Command, ctx: Context) -> Reply | str:
    return await _by_hand(cmd, ctx, "remove", "移出")


@feature.command("拉黑", admin_only=True)
async def block(cmd: Command, ctx: Context) -> Reply | str:
    return await _by_hand(cmd, ctx, "remove_and_block", "移出并拉黑")


# ------------------------------------------------------------- the lists


@feature.command("解封", admin_only=True)
async def unblock(cmd: Command, ctx: Context) -> Reply | str:
    member = cmd.mentions[0] if cmd.mentions else cmd.args.strip()
    if not member:
        return f"用法：{cmd.prefix}解封 微信号"
    if not await runtime(ctx).store.is_blocked(member):
        return f"{member} 不在黑名单里。"
    return Reply(f"已将 {member} 移出黑名单。", effects=[Unblock(member_id=member)])


@feature.command("白名单", admin_only=True)
async def allow(cmd: Command, ctx: Context) -> Reply | str:
    assert cmd.room_id is not None
    if len(cmd.mentions) != 1:
        return WHO.format(prefix=cmd.prefix, name=cmd.name)
    effect = AllowMember(room=cmd.room_id, member_id=cmd.mentions[0], by=cmd.sender_id)
    return Reply("好的，已加入本群白名单，今后不再检查其消息。", effects=[effect])


# ------------------------------------------------------------- verdicts


async def _case_here(cmd: Command, ctx: Context) -> int | str:
    word = cmd.args.strip().lstrip("#")
    if not word.isdigit():
        return f"用法：{cmd.prefix}{cmd.name} 案件号"
    case = await runtime(ctx).store.case(int(word))
    if case is None or case.room_id != cmd.room_id:
        return f"本群没有案件 {word}。"
    return case.id


@feature.command("误判", admin_only=True)
async def undo(cmd: Command, ctx: Context) -> Reply | str:
    found = await _case_here(cmd, ctx)
    if isinstance(found, str):
        return found
    return Reply(
        f"已撤销案件 {found}：清除记录，必要时重新邀请该成员，并用它改进识别。",
        effects=[UndoCase(case_id=found, by=cmd.sender_id)],
    )


@feature.command("广告", admin_only=True)
async def confirm(cmd: Command, ctx: Context) -> Reply | str:
    if cmd.message.quote is not None and not cmd.args.strip():
        return await mark_quoted(cmd, ctx)  # a quote reply: that message is the ad
    if not cmd.args.strip():
        return QUOTE_OR_CASE.format(prefix=cmd.prefix)
    found = await _case_here(cmd, ctx)
    if isinstance(found, str):
        return found
    return Reply(
        f"已确认案件 {found} 为广告，识别会据此改进。",
        effects=[ConfirmCase(case_id=found, by=cmd.sender_id)],
    )


@feature.command("开启管理", admin_only=True)
async def enforce(cmd: Command, ctx: Context) -> Reply:
    assert cmd.room_id is not None
    return Reply(
        "本群已开启管理：广告和私自拉人将按群规处理。",
        effects=[SetMode(room=cmd.room_id, mode="enforce", by=cmd.sender_id)],
    )


@feature.command("关闭管理", admin_only=True)
async def shadow(cmd: Command, ctx: Context) -> Reply:
    assert cmd.room_id is not None
    return Reply(
        "本群已切换为观察模式：只记录判定，不处理成员；群管每天会收到汇总。",
        effects=[SetMode(room=cmd.room_id, mode="shadow", by=cmd.sender_id)],
    )


# ---------------------------------------------------------------- doing


@feature.effect(UndoCase)
async def _undo(effect: UndoCase, services: Services) -> Result | None:
    rt = runtime(services)
    now = services.clock.now()
    case = await rt.store.set_status(effect.case_id, "undone", now, by=effect.by)
    if case is None:
        return None
    await rt.store.clear_strikes(case.room_id, case.member_id, now, case_id=case.id)
    await rt.store.unblock(case.member_id)
    if case.message_id is not None and case.text:
        await rt.store.add_verdict(case.text, False, effect.by, now, case.id)
        rt.detector.learn(case.text, False)
    removed = case.action in ("remove", "remove_and_block") and case.mode == "enforce"
    if not removed:
        return None
    back = AddMember(
        room=case.room_id,
        member_id=case.member_id,
        priority=Priority.MODERATION,
        reason=f"case {case.id} undone by {effect.by}: invite the member back",
        rule="undo",
    )
    return Result([back])


@feature.effect(ConfirmCase)
async def _confirm(effect: ConfirmCase, services: Services) -> None:
    rt = runtime(services)
    now = services.clock.now()
    case = await rt.store.set_status(effect.case_id, "confirmed", now, by=effect.by)
    if case is not None and case.text:
        await rt.store.add_verdict(case.text, True, effect.by, now, case.id)
        rt.detector.learn(case.text, True)


@feature.effect(SetMode)
async def _set_mode(effect: SetMode, services: Services) -> None:
    rt = runtime(services)
    await rt.store.set_mode(effect.room, effect.mode, effect.by, services.clock.now())
    rt.mode_set(effect.room, effect.mode)


@feature.effect(Unblock)
async def _unblock(effect: Unblock, services: Services) -> None:
    await runtime(services).store.unblock(effect.member_id)


@feature.effect(AllowMember)
async def _allow(effect: AllowMember, services: Services) -> None:
    rt = runtime(services)
    await rt.store.allow(effect.room, effect.member_id, effect.by, services.clock.now())
    rt.allowed(effect.room, effect.member_id)
