"""The console's two languages: a message catalogue, the reader's choice, and `t()`.

A dictionary rather than Flask-Babel: the console has one catalogue of a few hundred short
strings and two languages, and a dictionary needs no extraction or compile step. Every key
holds both languages, so a missing translation is a KeyError in tests, not an English
word in a Chinese page.
"""

from __future__ import annotations

from flask import request, session

LANGUAGES = {"zh-CN": "中文", "en": "English"}
DEFAULT = "zh-CN"

# key: (中文, English). Grouped by page; a page adds its own block.
MESSAGES: dict[str, tuple[str, str]] = {
    # shell
    "app.name": ("碳普惠综合管理平台", "Carbon Inclusion Console"),
    "shell.skip": ("跳到主要内容", "Skip to main content"),
    "shell.menu": ("主菜单", "Main menu"),
    "shell.user": ("当前用户", "Signed in as"),
    "shell.role": ("角色", "Role"),
    "shell.logout": ("退出登录", "Sign out"),
    "shell.language": ("语言", "Language"),
    "role.admin": ("管理员", "Administrator"),
    "role.merchant": ("商户员工", "Merchant staff"),
    "role.citizen": ("市民", "Citizen"),
    # menu groups (admin)
    "menu.overview": ("总览", "Overview"),
    "menu.methodologies": ("方法学", "Methodologies"),
    "menu.review": ("审核", "Review"),
    "menu.partners": ("合作方", "Partners"),
    "menu.merchants": ("商户与权益", "Merchants and rewards"),
    "menu.citizens": ("市民", "Citizens"),
    "menu.audit": ("审计与账本", "Audit and ledger"),
    # menu (merchant staff)
    "menu.shop": ("门店", "Shop"),
    "menu.verify": ("核销", "Verify a code"),
    "menu.redemptions": ("核销记录", "Redemptions"),
    "menu.rewards": ("权益", "Rewards"),
    "menu.settlement": ("结算", "Settlement"),
    # sign-in
    "login.title": ("登录", "Sign in"),
    "login.identifier": ("邮箱或手机号", "Email or mobile number"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.required": ("请填写此项。", "Please fill in this field."),
    "login.invalid": ("账号或密码错误。", "The login or password is wrong."),
    "login.disabled": ("此账号已停用。", "This account is disabled."),
    "login.limited": ("失败次数过多,请稍后再试。",
                      "Too many failed attempts; wait a few minutes and try again."),
    "login.expired": ("登录已过期,请重新登录。", "Your session has ended; please sign in again."),
    "login.signed_out": ("您已退出登录。", "You have signed out."),
    # errors
    "error.title": ("出错了", "Something went wrong"),
    "error.403": ("您无权访问此页面。", "You do not have access to this page."),
    "error.404": ("找不到此页面或记录。", "This page or record does not exist."),
    "error.405": ("不支持此操作。", "This action is not supported here."),
    "error.413": ("提交的内容过大。", "What you sent is too large."),
    "error.409": ("数据刚被他人修改,未保存任何更改,请重试。",
                  "Someone changed this meanwhile; nothing was saved. Try again."),
    "error.410": ("此记录已过期。", "This has expired."),
    "error.422": ("提交的内容有误,未保存任何更改。", "Something sent was not valid; nothing "
                  "was saved."),
    "error.429": ("操作过于频繁,请稍后再试。", "Too many attempts; wait and try again."),
    "error.503": ("数据库暂时不可用,未保存任何更改,请稍后重试。",
                  "The database is unavailable; nothing was saved. Retry shortly."),
    "error.400": ("请求无效。", "The request is not valid."),
    "error.500": ("服务器出错,未保存任何更改。", "The server failed; nothing was saved."),
    "error.csrf": ("页面已过期,请刷新页面后重试。",
                   "This page has expired; reload it and try again."),
    "error.back": ("返回首页", "Back to the start page"),
    "error.status": ("状态码", "Status"),
    "form.errors": ("请修正以下错误:", "Please correct the following:"),
    # admin landing
    "home.title": ("待办总览", "What waits"),
    "home.waiting": ("待处理事项", "Waiting for someone"),
    "home.item": ("事项", "Item"),
    "home.count": ("数量", "Count"),
    "home.pending_versions": ("待审批的方法学版本", "Methodology versions to approve"),
    "home.pending_behaviours": ("待审核的减排行为", "Behaviours in review"),
    "home.pending_revisions": ("待审批的权益变更", "Reward revisions to approve"),
    "home.none": ("暂无待办。", "Nothing is waiting."),
    # 核销 (merchant staff)
    "verify.intro": ("输入顾客出示的券码,或用摄像头扫码。",
                     "Type the code the customer shows, or scan it with the camera."),
    "verify.code": ("券码", "Code"),
    "verify.submit": ("核销", "Verify"),
    "verify.scan": ("扫码", "Scan"),
    "verify.scan_stop": ("停止扫码", "Stop scanning"),
    "verify.scan_unavailable": ("此浏览器不支持扫码,请手动输入券码。",
                                "This browser cannot scan codes; please type the code."),
    "verify.camera": ("摄像头画面", "Camera view"),
    "verify.working": ("正在核销…", "Verifying…"),
    "verify.code_required": ("请输入券码。", "Please type the code."),
    "verify.fulfilled": ("✓ 核销成功", "✓ Fulfilled"),
    "verify.already_used": ("✗ 此券码已核销", "✗ Already used"),
    "verify.expired": ("✗ 此券码已过期", "✗ Expired"),
    "verify.cancelled": ("✗ 此兑换已取消", "✗ Cancelled"),
    "verify.other_merchant": ("✗ 非本店券码", "✗ Another merchant's code"),
    "verify.not_found": ("✗ 券码不存在", "✗ No such code"),
    "verify.own": ("✗ 员工不能核销自己的兑换", "✗ Staff cannot verify their own redemption"),
    "verify.no_merchant": ("✗ 此账号未关联任何商户", "✗ This account is not staff of any "
                           "merchant"),
    "verify.suspended": ("✗ 本店已被暂停,暂不能核销", "✗ Your shop is suspended; codes cannot "
                         "be verified"),
    "verify.reward": ("权益", "Reward"),
    "verify.points": ("积分", "Points"),
    "verify.used_at": ("核销时间", "Used at"),
    "verify.expires_at": ("有效期至", "Valid until"),
    "verify.next": ("继续核销下一张", "Verify the next code"),
    # redemptions
    "redemptions.today": ("今日核销", "Fulfilled today"),
    "redemptions.count": ("笔数", "Redemptions"),
    "redemptions.points": ("积分合计", "Points"),
    "redemptions.recent": ("最近的兑换", "Latest redemptions"),
    "redemptions.code": ("券码", "Code"),
    "redemptions.reward": ("权益", "Reward"),
    "redemptions.status": ("状态", "Status"),
    "redemptions.created": ("兑换时间", "Redeemed at"),
    "redemptions.ended": ("核销/结束时间", "Ended at"),
    "redemptions.none": ("暂无兑换记录。", "No redemptions yet."),
    "status.reserved": ("待核销", "Reserved"),
    "status.fulfilled": ("已核销", "Fulfilled"),
    "status.cancelled": ("已取消", "Cancelled"),
    "status.expired": ("已过期", "Expired"),
    "status.pending": ("待审批", "Awaiting approval"),
    "status.listed": ("已上架", "Listed"),
    "status.unlisted": ("未上架", "Not listed"),
    # rewards
    "reward.new": ("新建权益", "New reward"),
    "reward.edit": ("修改权益", "Edit reward"),
    "reward.title": ("名称", "Title"),
    "reward.title_zh": ("中文名称", "Title (Chinese)"),
    "reward.title_en": ("英文名称(可选)", "Title (English, optional)"),
    "reward.category": ("类别", "Category"),
    "reward.points_price": ("所需积分", "Points price"),
    "reward.total_stock": ("总库存", "Total stock"),
    "reward.stock_left": ("剩余库存", "Stock left"),
    "reward.description": ("说明(可选)", "Description (optional)"),
    "reward.state": ("状态", "State"),
    "reward.actions": ("操作", "Actions"),
    "reward.submit": ("提交审批", "Send for approval"),
    "reward.cancel": ("返回", "Back"),
    "reward.approval_note": ("积分、库存和有效期的修改需管理员审批后生效;其他修改立即生效。",
                             "Changes to the price, stock and dates take effect once an "
                             "administrator approves them; other changes apply at once."),
    "reward.sent": ("已提交,等待管理员审批。", "Sent; it waits for an administrator's approval."),
    "reward.none": ("还没有权益。", "No rewards yet."),
    "reward.pending": ("待审批的变更", "Changes awaiting approval"),
    "reward.pending_none": ("没有待审批的变更。", "No change is waiting."),
    "reward.change": ("变更内容", "Change"),
    "reward.proposed_at": ("提交时间", "Proposed at"),
    "reward.kind.create": ("新建", "New reward"),
    "reward.kind.change": ("修改", "Change"),
    "reward.error.title_zh": ("请填写中文名称(最多 120 字)。",
                              "Give a Chinese title (at most 120 characters)."),
    "reward.error.title_en": ("英文名称最多 120 字。", "The English title is at most 120 "
                              "characters."),
    "reward.error.category": ("请选择类别。", "Choose a category."),
    "reward.error.points_price": ("积分应为 1 至 10,000,000 的整数。",
                                  "The price is a whole number from 1 to 10,000,000."),
    "reward.error.total_stock": ("库存应为 0 至 10,000,000 的整数,且不低于已兑换的数量。",
                                 "Stock is a whole number from 0 to 10,000,000, not below what "
                                 "is already redeemed."),
    "reward.error.description": ("说明最多 4000 字。", "The description is at most 4,000 "
                                 "characters."),
    "reward.error.nothing": ("没有要修改的内容。", "Nothing was changed."),
    "category.food_drink": ("餐饮", "Food and drink"),
    "category.transport": ("出行", "Transport"),
    "category.shopping": ("购物", "Shopping"),
    "category.services": ("生活服务", "Services"),
    "category.culture": ("文化", "Culture"),
    "category.charity": ("公益", "Charity"),
    "category.other": ("其他", "Other"),
    # settlement
    "settlement.merchant": ("商户", "Merchant"),
    "settlement.from": ("开始日期", "From"),
    "settlement.to": ("结束日期", "To"),
    "settlement.show": ("查询", "Show"),
    "settlement.csv": ("导出 CSV", "Download CSV"),
    "settlement.total": ("合计", "Total"),
    "settlement.by_reward": ("按权益汇总", "By reward"),
    "settlement.lines": ("核销明细", "Fulfilled redemptions"),
    "settlement.fulfilled_at": ("核销时间", "Fulfilled at"),
    "settlement.none": ("此期间没有核销。", "Nothing was fulfilled in this period."),
    "settlement.error.date": ("请按 年-月-日 填写日期,例如 2026-01-31。",
                              "Write the date as year-month-day, e.g. 2026-01-31."),
    "settlement.error.period": ("开始日期不能晚于结束日期,且期间最长 366 天。",
                                "'From' must not be after 'To', and a period is at most 366 "
                                "days."),
}


def language() -> str:
    """The reader's language: their choice kept in the session, else Chinese."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else DEFAULT


def t(key: str, **values: object) -> str:
    """The message in the reader's language; `values` fill its {placeholders}."""
    zh, en = MESSAGES[key]
    text = zh if language() == "zh-CN" else en
    return text.format(**values) if values else text
