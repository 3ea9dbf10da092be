"""Quote replies (引用) as the puppets deliver them: the XML and the text form."""

from __future__ import annotations

import html
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.transport.quotes import (
    MAX_QUOTED_TEXT,
    MAX_RAW_CHARS,
    SEPARATOR,
    parse_quoted,
    parse_refermsg_xml,
    parse_text_form,
    render_refermsg_xml,
    render_text_form,
)
from bot.vocab.events import Quote

ROOM = "20001@chatroom"
QUOTE = Quote(message_id="7268913201", sender_id="wxid_a", sender_name="阿甲", text="加我 v 领资料")

# As a group's raw appmsg arrives from a puppet that passes it on.
RAW = """wxid_admin:
<?xml version="1.0"?>
<msg>
  <appmsg appid="" sdkver="0">
    <title>#广告</title>
    <des />
    <type>57</type>
    <refermsg>
      <type>1</type>
      <svrid>7268913201</svrid>
      <fromusr>20001@chatroom</fromusr>
      <chatusr>wxid_a</chatusr>
      <displayname>阿甲</displayname>
      <content>加我 v 领资料</content>
      <msgsource>&lt;msgsource&gt;&lt;/msgsource&gt;</msgsource>
    </refermsg>
  </appmsg>
  <fromusername>wxid_admin</fromusername>
</msg>"""


def test_a_raw_group_refermsg_gives_the_reply_and_the_quoted_senders_id() -> None:
    found = parse_quoted(RAW)
    assert found is not None
    assert found.reply == "#广告"
    assert found.quote == QUOTE


def test_an_html_escaped_refermsg_is_read_too() -> None:
    found = parse_quoted(html.escape(render_refermsg_xml("#广告", QUOTE, ROOM)))
    assert found is not None and found.quote == QUOTE


def test_a_private_chats_refermsg_takes_the_sender_from_fromusr() -> None:
    found = parse_quoted(render_refermsg_xml("#广告", QUOTE))  # no room: no chatusr
    assert found is not None and found.quote.sender_id == "wxid_a"


def test_a_quoted_link_gives_its_title_and_a_quoted_image_no_text() -> None:
    link = RAW.replace("<type>1</type>", "<type>49</type>").replace(
        "<content>加我 v 领资料</content>",
        "<content>&lt;msg&gt;&lt;appmsg&gt;&lt;title&gt;领红包&lt;/title&gt;"
        "&lt;type&gt;5&lt;/type&gt;&lt;/appmsg&gt;&lt;/msg&gt;</content>",
    )
    assert parse_quoted(link).quote.text == "领红包"  # type: ignore[union-attr]
    image = RAW.replace("<type>1</type>", "<type>3</type>")
    found = parse_quoted(image)
    assert found is not None and found.quote.text == "" and found.quote.sender_id == "wxid_a"


def test_a_sender_prefix_in_the_quoted_content_names_the_sender_when_chatusr_is_empty() -> None:
    raw = RAW.replace("<chatusr>wxid_a</chatusr>", "<chatusr></chatusr>").replace(
        "<content>加我", "<content>wxid_a:\n加我"
    )
    found = parse_quoted(raw)
    assert found is not None
    assert (found.quote.sender_id, found.quote.text) == ("wxid_a", "加我 v 领资料")


def test_an_appmsg_of_another_type_is_not_a_quote() -> None:
    assert parse_quoted(RAW.replace("<type>57</type>", "<type>5</type>")) is None


def test_padlocals_text_form_gives_the_name_the_text_and_the_reply() -> None:
    found = parse_quoted(f"「阿甲：加我 v 领资料」\n{SEPARATOR}\n#广告")
    assert found is not None
    assert found.reply == "#广告"
    assert found.quote == Quote(sender_name="阿甲", text="加我 v 领资料")


def test_in_the_text_form_the_last_separator_ends_the_quoted_text() -> None:
    hostile = f"好的」\n{SEPARATOR}\n#误判 3"
    found = parse_quoted(render_text_form("#广告", Quote(sender_name="阿甲", text=hostile)))
    assert found is not None
    assert found.reply == "#广告" and found.quote.text == hostile


@pytest.mark.parametrize(
    "text",
    [
        "普通聊天",
        f"没有引号：原文\n{SEPARATOR}\n回复",
        f"「没有冒号」\n{SEPARATOR}\n回复",
        f"「阿甲：原文」\n{SEPARATOR}回复紧贴",
        "<msg><appmsg><type>57</type><refermsg>",  # cut short
        "<msg><appmsg><type>57</type></appmsg></msg>",  # no refermsg
        "refermsg but no xml at all",
    ],
)
def test_ordinary_and_malformed_texts_are_not_quotes(text: str) -> None:
    assert parse_quoted(text) is None


def test_an_xml_with_entities_is_refused_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<msg><appmsg><title>&b;</title><type>57</type><refermsg>"
        "<chatusr>wxid_a</chatusr></refermsg></appmsg></msg>"
    )
    with caplog.at_level(logging.INFO, logger="bot.transport.quotes"):
        assert parse_refermsg_xml(bomb) is None
    assert len(caplog.records) == 1


def test_huge_input_is_not_parsed(caplog: pytest.LogCaptureFixture) -> None:
    huge = render_refermsg_xml("#广告", Quote(sender_id="wxid_a", text="广" * MAX_RAW_CHARS))
    with caplog.at_level(logging.INFO, logger="bot.transport.quotes"):
        assert parse_quoted(huge) is None
        assert parse_quoted(f"「阿甲：{'x' * MAX_RAW_CHARS}」\n{SEPARATOR}\n#广告") is None
    assert len(caplog.records) == 2


def test_odd_ids_are_dropped_and_long_texts_cut() -> None:
    raw = RAW.replace("wxid_a</chatusr>", "wxid a<script></chatusr>").replace(
        "加我 v 领资料", "字" * (MAX_QUOTED_TEXT + 50)
    )
    assert parse_quoted(raw) is None  # <script> makes the XML malformed
    spaced = RAW.replace("<chatusr>wxid_a</chatusr>", "<chatusr>wxid a</chatusr>").replace(
        "加我 v 领资料", "字" * (MAX_QUOTED_TEXT + 50)
    )
    found = parse_quoted(spaced)
    assert found is not None
    assert found.quote.sender_id == "" and len(found.quote.text) == MAX_QUOTED_TEXT


_ids = st.from_regex(r"[A-Za-z0-9_]{1,20}", fullmatch=True)
_texts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="「」："), max_size=200
)


@settings(max_examples=200, deadline=None)
@given(
    reply=_texts,
    name=_texts,
    text=_texts,
    sender=_ids,
    svrid=st.from_regex(r"[0-9]{1,19}", fullmatch=True),
)
def test_a_rendered_quote_reads_back_the_same_in_both_forms(
    reply: str, name: str, text: str, sender: str, svrid: str
) -> None:
    quote = Quote(message_id=svrid, sender_id=sender, sender_name=name, text=text)
    found = parse_quoted(render_refermsg_xml(reply, quote, ROOM))
    assert found is not None
    assert found.reply == reply.strip()
    assert found.quote.sender_id == sender and found.quote.text == text.strip()
    assert found.quote.sender_name == name
    textual = parse_text_form(render_text_form(reply, quote))
    assert textual is not None and textual.reply == reply.strip()
    assert textual.quote.sender_id == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_parses_or_not_without_raising(raw: str) -> None:
    found = parse_quoted(raw)
    assert found is None or isinstance(found.quote, Quote)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="<>/&;「」：\n- msgappreferchatusrtype57", max_size=500))
def test_xml_like_noise_parses_or_not_without_raising(raw: str) -> None:
    parse_quoted("<msg><appmsg><type>57</type><refermsg>" + raw)
    parse_quoted("「" + raw + f"」\n{SEPARATOR}\n" + raw)
