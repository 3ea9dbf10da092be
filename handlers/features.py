"""The one list of features.  Adding a feature is adding it here.

The app builds from this list: the dispatcher's handler groups (by each
feature's ``stage``), the shared command router (every feature's commands),
the calendar's jobs, the appliers of features' own effects and their shadow
switches.  Activity logging is not a feature: it is the dispatcher's outer
step, which sees every event before any feature.
"""

from __future__ import annotations

from handlers import (
    connection,
    friends,
    help,
    joining,
    lurkers,
    membership,
    moderation,
    pauses,
    reports,
    welcome,
)
from handlers.engagement import coupons, points
from handlers.feature import Feature
from handlers.moderation import appeals, invites, links
from sop import checkin_rounds, commands, coupon_drops, flash_groups, posts
from sop.lottery import feature as lottery

FEATURES: tuple[Feature, ...] = (
    reports.feature,  # weekly reports, #名片检查; first: it reads member lists' aliases, never answers
    membership.feature,  # who is in a group: member lists, joins, leaves, roles
    connection.feature,  # logins, logouts, lost connections
    joining.feature,  # an owner's invitation; adopting the group
    moderation.feature,  # ads in every form: judged, escalated, explained
    invites.feature,  # unapproved invites, #邀请 / #同意 / #拒绝, raids, the blocklist
    welcome.feature,  # the welcome ritual
    pauses.feature,  # #解除暂停
    help.feature,  # #帮助, #规则
    links.feature,  # #报备, #同意报备, #拒绝报备
    appeals.feature,  # #申诉, #驳回, #申诉列表
    coupons.feature,  # #发券, #领券, #我的券, #转赠, #接受, #核销; expiry and reminders
    points.feature,  # #签到, #积分, #排行, #加分, #扣分, points for speaking
    commands.feature,  # #日程, #暂停, #恢复, #重载
    posts.feature,  # the calendar's ``post`` kind
    checkin_rounds.feature,  # the calendar's ``checkin`` kind: rounds and their summaries
    coupon_drops.feature,  # the calendar's ``coupon_drop`` kind: 会员日
    flash_groups.feature,  # the calendar's ``flash_group`` kind: 快闪群 campaigns
    lottery.feature,  # the calendar's ``lottery`` kind: keyword or check-in entry, fair draws
    lurkers.feature,  # tiers, 冒泡提醒 and removal batches, #潜水, capacity alerts
    friends.feature,  # friend requests: members (and recent ones, to appeal) accepted
)
