"""Quote replies (WeChat's 引用): the reply and the message it quotes.

In WeChat a quote reply is an appmsg of type 57::

    <msg><appmsg><title>the reply</title><type>57</type>
      <refermsg><type>1</type><svrid>…</svrid><fromusr>room@chatroom</fromusr>
        <chatusr>wxid_sender</chatusr><displayname>张三</displayname>
        <content>the quoted text</content></refermsg></appmsg></msg>

Wechaty's MessageType has no quote.  What reaches the bot depends on the
puppet behind the gateway:

* padlocal and wechat4u (their ``referMsgParser``) turn it into a *Text*
  message ``「张三：the quoted text」\\n- - - - - - - - - - - - - - -\\nthe reply``:
  the quoted sender's account id and the message id are lost, only the
  display name is left (:func:`parse_text_form`);
* puppets that pass the raw content on deliver the XML itself as the text of
  an Unknown, Url or Text message, in a group often behind ``wxid_sender:\\n``
  and sometimes HTML-escaped (:func:`parse_refermsg_xml`): the quoted sender's
  id is ``chatusr`` (``fromusr`` in a private chat).

Everything here is pure and must survive hostile input: the text comes from
any member.  Input over :data:`MAX_RAW_CHARS` is not parsed; XML goes through
defusedxml (no DTDs, no entities: no billion laughs, no external fetches); a
malformed message gives one log line and ``None``, never an exception.
Display names and quoted texts are cut; ids that do not look like WeChat ids
are dropped.  Nothing here makes a display name an identity.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.vocab.events import Quote

log = logging.getLogger(__name__)

#: A quote reply longer than this is not parsed (WeChat's texts stay far below).
MAX_RAW_CHARS = 64_000
#: Quoted texts and display names are cut to these lengths.
MAX_QUOTED_TEXT = 2_000
MAX_NAME = 128
#: padlocal's and wechat4u's line between the quoted message and the reply.
SEPARATOR = "- - - - - - - - - - - - - - -"
#: The appmsg type of a quote reply.
REFER_TYPE = "57"

# wxid_…, plain WeChat ids, room ids (…@chatroom), open ids: letters, digits, _-.@
_ID = re.compile(r"[A-Za-z0-9_\-.@]{1,128}")
# "wxid_sender:\n" before a group message's raw content
_SENDER_PREFIX = re.compile(r"([A-Za-z0-9_\-.@]{1,128}):[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class QuotedReply:
    """A quote reply: what the member wrote, and what they quoted."""

    reply: str
    quote: Quote


def parse_quoted(raw: str) -> QuotedReply | None:
    """The quote reply in a message's text (either form), or None."""
    if not raw or ("refermsg" not in raw and SEPARATOR not in raw):
        return None  # the common case, cheaply
    if len(raw) > MAX_RAW_CHARS:
        log.info("a %d-character message looks like a quote: not parsed", len(raw))
        return None
    if "refermsg" in raw:
        found = parse_refermsg_xml(raw)
        if found is not None:
            return found
    return parse_text_form(raw)


# ---------------------------------------------------------------- the XML form


def parse_refermsg_xml(raw: str) -> QuotedReply | None:
    """A type-57 appmsg (raw, behind a sender prefix, or HTML-escaped), or None."""
    if len(raw) > MAX_RAW_CHARS:
        log.info("a %d-character appmsg: not parsed", len(raw))
        return None
    root = _xml(raw)
    if root is None:
        return None
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    if appmsg is None:
        return None
    kind = (appmsg.findtext("type") or "").strip()
    refer = appmsg.find("refermsg")
    if refer is None or (kind and kind != REFER_TYPE):
        return None
    reply = (appmsg.findtext("title") or "").strip()
    chatusr = _id(refer.findtext("chatusr"))
    fromusr = _id(refer.findtext("fromusr"))
    # In a group chatusr is the quoted sender and fromusr the group; in a
    # private chat chatusr is often empty and fromusr is the sender.
    sender = chatusr or (fromusr if not fromusr.endswith("@chatroom") else "")
    content = refer.findtext("content") or ""
    quoted_type = (refer.findtext("type") or "1").strip()
    text = ""
    if quoted_type == "1":
        prefixed = _SENDER_PREFIX.match(content)
        if prefixed is not None:
            sender = sender or prefixed.group(1)
            content = content[prefixed.end() :]
        text = content.strip()
    elif quoted_type == "49":  # a link, a file, a quote…: its title
        text = _app_title(content)
    return QuotedReply(
        reply=reply,
        quote=Quote(
            message_id=_id(refer.findtext("svrid")),
            sender_id=sender,
            sender_name=_clip(refer.findtext("displayname") or "", MAX_NAME),
            text=_clip(text, MAX_QUOTED_TEXT),
        ),
    )


def _xml(raw: str) -> Element | None:
    text = raw.strip()
    prefixed = _SENDER_PREFIX.match(text)
    if prefixed is not None:
        text = text[prefixed.end() :].lstrip()
    if text.startswith("&lt;"):
        text = html.unescape(text)
    start = text.find("<")
    if start < 0:
        return None
    try:
        root: Element = fromstring(text[start:])
        return root
    except (ParseError, DefusedXmlException, ValueError) as exc:
        log.info("a quote's XML could not be read (%s): ignored", type(exc).__name__)
        return None


def _app_title(content: str) -> str:
    """The title of a quoted appmsg (itself XML inside the refermsg)."""
    if "<" not in content and "&lt;" not in content:
        return ""
    root = _xml(content)
    if root is None:
        return ""
    appmsg = root if root.tag == "appmsg" else root.find("appmsg")
    return "" if appmsg is None else (appmsg.findtext("title") or "").strip()


def _id(value: str | None) -> str:
    value = (value or "").strip()
    return value if _ID.fullmatch(value) else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


# ---------------------------------------------------------------- the text form


def parse_text_form(raw: str) -> QuotedReply | None:
    """padlocal's / wechat4u's ``「name：text」\\n<separator>\\nreply``, or None.

    The quoted part is whatever a member wrote, so the *last* separator ends
    it: a separator inside a quoted text cannot change who replied what.  The
    name ends at the first full-width colon (a name with one is cut there).
    """
    if len(raw) > MAX_RAW_CHARS:
        log.info("a %d-character text looks like a quote: not parsed", len(raw))
        return None
    if not raw.startswith("「"):
        return None
    end = raw.rfind("」\n" + SEPARATOR)
    if end < 0:
        return None
    after = raw[end + 2 + len(SEPARATOR) :]
    if after and not after.startswith("\n"):
        return None
    quoted = raw[1:end]
    name, colon, text = quoted.partition("：")
    if not colon:
        name, colon, text = quoted.partition(":")
    if not colon:
        return None
    return QuotedReply(
        reply=after[1:].strip(),
        quote=Quote(
            sender_name=_clip(name.strip(), MAX_NAME),
            text=_clip(text.strip(), MAX_QUOTED_TEXT),
        ),
    )


# ---------------------------------------------------------------- making them


def render_refermsg_xml(reply: str, quote: Quote, room_id: str = "") -> str:
    """A type-57 appmsg as WeChat sends it (for the sandbox and tests)."""

    def esc(value: str) -> str:
        return html.escape(value, quote=False)

    return (
        '<?xml version="1.0"?>\n<msg><appmsg appid="" sdkver="0">'
        f"<title>{esc(reply)}</title><des></des><type>{REFER_TYPE}</type>"
        "<refermsg><type>1</type>"
        f"<svrid>{esc(quote.message_id)}</svrid>"
        f"<fromusr>{esc(room_id or quote.sender_id)}</fromusr>"
        f"<chatusr>{esc(quote.sender_id if room_id else '')}</chatusr>"
        f"<displayname>{esc(quote.sender_name)}</displayname>"
        f"<content>{esc(quote.text)}</content>"
        "</refermsg></appmsg><appinfo><version>1</version><appname></appname></appinfo></msg>"
    )


def render_text_form(reply: str, quote: Quote) -> str:
    """What padlocal and wechat4u make of a quote reply."""
    return f"「{quote.sender_name}：{quote.text}」\n{SEPARATOR}\n{reply}"
