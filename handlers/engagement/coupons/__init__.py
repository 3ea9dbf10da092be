"""Coupons members claim, hold, transfer and redeem (issue 9, points 3-6 and 9).

* ``#发券 类型 张数 [分钟]`` (admins): a drop of that many coupons open for
  ``#领券`` in the group (``drop_minutes`` when no time is given);
  ``#发券 @成员 类型`` gives one straight to each member named.  The CLI opens
  drops too (``qunbot coupons drop``); the bot's sweep announces them.
* ``#领券``: one coupon from an open drop, up to the type's
  ``per_member_limit`` per drop; racing claimers never get one coupon twice.
* ``#我的券``: the member's coupons (type, code, state, expiry) and the
  transfers waiting for them.
* ``#转赠 @成员 [券码或券名] [留言]``: a transferable coupon waits for the
  recipient's ``#接受`` (``#接受 券码`` for one of several) for
  ``transfer_accept_minutes``; otherwise the sweep gives it back, telling both.
* ``#核销 券码`` (admins and ``merchants``): redeems a code once, recording
  who, where and when; a second try says when, by whom and where it was.
* The sweep (every minute, on the injected clock): announces CLI drops, returns
  lapsed transfers, expires coupons past their date (and the unclaimed ones of
  closed drops), and reminds holders ``expiry_reminder_hours`` before expiry,
  folded into one message per group (``max_mentions`` each).

Coupons live in the group's scope (:func:`handlers.engagement.policy.scope_of`):
per group, or shared by the groups of a tag.  State is in ``storage.coupons``;
every transition is a row of ``coupon_events``; admins' acts and transfers are
audited as well.
"""

from __future__ import annotations

from handlers.engagement.coupons import commands, sweep
from handlers.engagement.coupons.common import feature

__all__ = ["commands", "feature", "sweep"]
