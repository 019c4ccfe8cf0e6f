"""The HTML view of tagged articles: one self-contained page (inline CSS, no script, no network).

An analyst reads coverage, not JSON lines. The page shows each article's text in reading order,
every unit highlighted by stance (colour, underline pattern and symbol, so it survives colour
blindness and black-and-white print) with its topic as a small label and its scores on hover; at
the top a comparison of the articles and, per article, bars of stance shares and topic counts; in
the footer the model version and the evaluation's headline numbers, read from the manifest.

Safe with any input: every piece of article text is escaped, control characters are shown as
visible symbols, and the page's Content-Security-Policy allows no script at all, so even markup
that escaped the escaping could run nothing.

Streaming: :class:`Page` takes the units a piece at a time, as ``tag.stream`` yields them, and
spools each article's body to a temporary file, because the summaries that come first on the page
are known only at the end. Memory stays flat however many units there are.
"""

from __future__ import annotations

import io
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from karabakh_tagger import __version__
from karabakh_tagger.labels import STANCES

if TYPE_CHECKING:
    from karabakh_tagger.artifacts import Manifest
    from karabakh_tagger.tag import TaggedUnit

SYMBOLS = {"supportive": "+", "critical": "−", "neutral": "○"}
"""The stance written as a symbol beside its colour: the colour is never the only sign."""
TOP_TOPICS = 3

_TEXT = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#x27;"}
_ATTR = {**_TEXT, ord("\n"): " ", ord("\t"): " "}
for _code in [*range(0x20), *range(0x7F, 0xA0)]:  # C0, DEL and C1 controls: shown by code point
    if chr(_code) not in "\t\n":
        _TEXT[_code] = f'<span class="cc">U+{_code:04X}</span>'
        _ATTR[_code] = f"U+{_code:04X}"


def esc(text: str) -> str:
    """``text`` as HTML text: markup characters escaped, control characters made visible."""
    return text.replace("\r\n", "\n").translate(_TEXT)


def attr(text: str) -> str:
    """``text`` as a quoted attribute value, on one line."""
    return text.replace("\r\n", "\n").translate(_ATTR)


def _slug(label: str) -> str:
    """A label as a CSS class name (labels are identifiers; anything else becomes ``_``)."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in label)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


# --- one article ---------------------------------------------------------------------------------

@dataclass
class Article:
    """What the page knows of one article: its counts, and where its body lies in the spool."""

    position: int
    name: str
    units: int = 0
    topics: Counter[str] = field(default_factory=Counter)
    stances: Counter[str] = field(default_factory=Counter)
    uncertain: int = 0
    body: tuple[int, int] = (0, 0)

    @property
    def anchor(self) -> str:
        return f"a{self.position}"


def unit_html(unit: TaggedUnit, min_score: float | None) -> str:
    """One unit: a plain element with its stance class, text, topic label and scores as a title."""
    uncertain = min_score is not None and unit.topic_score < min_score
    stance, topic = unit.stance, unit.topic
    title = f"{stance} {unit.stance_score:.2f} · topic {topic} {unit.topic_score:.2f}"
    if unit.stance_probs or unit.topic_probs:
        title = " · ".join(f"{task}: " + ", ".join(f"{c} {p:.2f}" for c, p in
                                                    sorted(probs.items(), key=lambda cp: -cp[1]))
                           for task, probs in (("stance", unit.stance_probs or {}),
                                               ("topic", unit.topic_probs or {})))
    if uncertain:
        title += f" · uncertain: topic score below {min_score:.2f}"
    return (f'<span class="u s-{_slug(stance)}{" unc" if uncertain else ""}" data-topic="{attr(topic)}" '
            f'title="{attr(title)}"><abbr class="k" title="{attr(stance)}">'
            f'{SYMBOLS.get(stance, "•")}</abbr><span class="x">{esc(unit.text)}</span>'
            f'<span class="t">{esc(topic)}{"?" if uncertain else ""}</span></span>')


def gap_html(gap: str, opening: bool, closing: bool) -> str:
    """The article text between two units (white space, bullets, stray punctuation), in reading
    order: a blank line starts a paragraph, a line break breaks the line, other text stays text.
    ``opening``: the gap before the article's first unit; ``closing``: the one after its last."""
    out: list[str] = []
    breaks = 0
    for k, line in enumerate(gap.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
        breaks += k > 0
        piece = line.strip()
        if not piece:
            continue
        if out or not opening:
            out.append(_breaks(breaks) if breaks else " " if line[0].isspace() else "")
        out.append(f'<span class="g">{esc(piece)}</span>')
        breaks = 0
    if not closing and (out or not opening):
        out.append(_breaks(breaks) if breaks else " " if gap[-1:].isspace() else "")
    return "".join(out)


def _breaks(count: int) -> str:
    return "<br>\n" if count == 1 else "</p>\n<p>"


def _summary_html(article: Article, classes: dict[str, Sequence[str]], min_score: float | None) -> str:
    """The article's compact bars: stance shares (stacked) and units per topic."""
    n = article.units
    if not n:
        return '<p class="none">No units: nothing in this article was tagged.</p>\n'
    stances = [s for s in classes["stance"] if article.stances[s]]
    shares = ", ".join(f"{s} {_pct(article.stances[s], n)}" for s in stances)
    segments = "".join(f'<span class="s-{_slug(s)}" style="width:{100 * article.stances[s] / n:.2f}%">'
                       f'</span>' for s in stances)
    words = " · ".join(f'<span class="w"><span class="sw s-{_slug(s)}"></span>{SYMBOLS.get(s, "•")} {esc(s)} '
                       f'{article.stances[s]} ({_pct(article.stances[s], n)})</span>' for s in stances)
    top = max(article.topics.values())
    rows = "".join(f'<li><span class="tn">{esc(t)}</span><span class="tb"><span style="width:'
                   f'{100 * c / top:.1f}%"></span></span><span class="tc">{c}</span></li>'
                   for t, c in article.topics.most_common())
    unsure = (f" · {article.uncertain} uncertain (topic score below {min_score:.2f})"
              if min_score is not None else "")
    return (f'<div class="sum"><p class="n">{n} units{unsure}</p>\n'
            f'<div class="bar" role="img" aria-label="stance shares: {attr(shares)}">{segments}</div>\n'
            f'<p class="shares">{words}</p>\n<ul class="topics" aria-label="units per topic">{rows}</ul>'
            f'</div>\n')


# --- the page ------------------------------------------------------------------------------------

CSS = """
:root{--sup:#0072b2;--cri:#d55e00;--neu:#6b6b6b;--sup-bg:#dcebf7;--cri-bg:#fbe2d4;--neu-bg:#ececec}
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font:16px/1.6 Georgia,"DejaVu Serif",serif;color:#1a1a1a;background:#fff;margin:0 auto;
 max-width:60rem;padding:1.5rem}
h1,h2,th,.sum,.legend,footer,.t,.meta,.problems{font-family:"DejaVu Sans",Arial,sans-serif}
h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.2rem;margin:2rem 0 .3rem;overflow-wrap:anywhere}
.meta{color:#555;font-size:.85rem;margin:0 0 1rem}
.legend{font-size:.85rem;border:1px solid #ccc;padding:.4rem .7rem;margin:0 0 1rem}
.legend .u{margin-right:.8rem}
table{border-collapse:collapse;font-size:.85rem;width:100%;margin:0 0 1rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .4rem;text-align:left;vertical-align:top}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}td:first-child{min-width:9rem;
 overflow-wrap:anywhere}
.sum{font-size:.85rem;margin:0 0 .8rem}.sum p{margin:.2rem 0}
.bar{display:flex;height:.9rem;border:1px solid #888;max-width:30rem}
.bar span,.mini span{display:block;height:100%}
.mini{display:flex;height:.7rem;width:6rem;border:1px solid #888}
.bar .s-supportive,.mini .s-supportive,.sw.s-supportive{background:var(--sup)}
.bar .s-critical,.mini .s-critical,.sw.s-critical{background:repeating-linear-gradient(45deg,var(--cri) 0 3px,
 #f3b48f 3px 5px)}
.bar .s-neutral,.mini .s-neutral,.sw.s-neutral{background:#d0d0d0}
.sw{display:inline-block;width:.8em;height:.8em;border:1px solid #888;margin-right:.25em;vertical-align:-.1em}
.w{white-space:nowrap}
.topics{list-style:none;padding:0;margin:.3rem 0;display:grid;grid-template-columns:repeat(2,max-content
 8rem 2.5rem);gap:.1rem .5rem;align-items:center}
.topics li{display:contents}.tb{height:.6rem;background:#f2f2f2}.tb span{display:block;height:100%;
 background:#555}.tc{font-variant-numeric:tabular-nums}
.text p{margin:0 0 .9rem}.text p:empty{display:none}
.u{unicode-bidi:isolate;padding:.05em .1em;border-radius:2px;-webkit-box-decoration-break:clone;
 box-decoration-break:clone}
.s-supportive.u{background:var(--sup-bg);border-bottom:2px solid var(--sup)}
.s-critical.u{background:var(--cri-bg);border-bottom:3px double var(--cri)}
.s-neutral.u{border-bottom:1px dotted var(--neu)}
abbr{text-decoration:none}
.k{font:bold .8em "DejaVu Sans",Arial,sans-serif;margin-right:.2em}
.s-supportive .k{color:var(--sup)}.s-critical .k{color:var(--cri)}.s-neutral .k{color:var(--neu)}
.t{font-size:.68em;color:#333;background:#fff;border:1px solid #aaa;border-radius:3px;padding:0 .3em;
 margin-left:.3em;white-space:nowrap;vertical-align:.15em}
.unc{outline:1px dashed #444;outline-offset:1px;font-style:italic}
.unc .t{border-style:dashed;background:#fff8c5}
.g{color:#777}.none{font-style:italic}
.cc{font:.7em "DejaVu Sans Mono",monospace;border:1px solid #999;padding:0 .2em}
.problems{border:2px solid var(--cri);padding:.4rem .7rem;font-size:.85rem;margin:0 0 1rem}
.problems p,.problems ul{margin:.2rem 0}
footer{border-top:1px solid #ccc;margin-top:2rem;padding-top:.6rem;font-size:.85rem;color:#333}
@media print{body{max-width:none;padding:0}a{color:inherit}section+section{break-before:page}
 .t{border-color:#000}}
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")
"""No script, no fetch, no frame: the page can show text and its own styles, nothing else."""


def trust_sentence(manifest: Manifest | None, model: str) -> str:
    """One honest sentence on how far to trust the tags, from the manifest's evaluation."""
    if manifest is None or model not in manifest.models:
        return "No model manifest: the model and its evaluation are unknown, so nothing says how far " \
               "to trust these tags."
    evaluation = manifest.models[model].evaluation
    if manifest.evaluated is None or not evaluation:
        return ("This model has not been evaluated yet (run make eval): nothing measured says how far "
                "to trust these tags, so treat every one as an unchecked guess.")
    parts, wrong = [], []
    for task in ("stance", "topic"):
        h = evaluation.get(task)
        if h is None:
            continue
        wrong.append(f"{1 - h.loao_accuracy:.0%} of {task} tags")
        parts.append(f"{task} macro-F1 {h.loao_macro_f1:.2f}, accuracy {h.loao_accuracy:.2f}, "
                     f"best dummy macro-F1 {h.best_dummy_loao_macro_f1:.2f}")
    if not parts:
        return "The evaluation recorded no headline numbers for this model: treat every tag as unchecked."
    articles = len(manifest.data.articles)
    return (f"How far to trust these tags: on articles held out from training (leave-one-article-out "
            f"over {articles} labelled articles of one story, evaluated {manifest.evaluated[:10]}), "
            f"{' and '.join(wrong)} were wrong ({'; '.join(parts)}). Read each tag as a pointer to "
            f"check, not a fact, and expect worse on other outlets.")


class Page:
    """One report page, built while the units stream in (``tag.stream`` order: articles one after
    another, each in pieces), then written whole with :meth:`write`.

    ``remember`` passes the ``(name, text)`` inputs through and keeps each article's text until
    its last piece, so the text between units (paragraph breaks, bullets) can be shown too.
    """

    def __init__(self, manifest: Manifest | None, model: str, classes: dict[str, Sequence[str]],
                 min_score: float | None = None, created: datetime | None = None,
                 spool: BinaryIO | None = None) -> None:
        self.manifest, self.model, self.min_score = manifest, model, min_score
        self.classes = {"topic": list(classes["topic"]), "stance": list(classes.get("stance", STANCES))}
        self.created = created or datetime.now(UTC)
        self.spool: BinaryIO = spool if spool is not None else tempfile.TemporaryFile()  # noqa: SIM115
        self.articles: list[Article] = []
        self.problems: list[str] = []
        self._texts: dict[int, str] = {}
        self._inputs = 0
        self._current: Article | None = None
        self._cursor = 0

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: object) -> None:
        self.spool.close()

    def remember(self, articles: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        """The inputs unchanged; each text is kept (by input position) until its last piece."""
        for name, text in articles:
            self.keep(self._inputs, text)
            self._inputs += 1
            yield name, text

    def keep(self, position: int, text: str) -> None:
        """Keep the text of input ``position`` until its last piece has been added."""
        self._texts[position] = text

    def _emit(self, html: str) -> None:
        self.spool.write(html.encode("utf-8"))

    def add(self, position: int, name: str, units: Sequence[TaggedUnit], last: bool) -> None:
        """One piece of one article, as ``tag.stream`` yields it."""
        article = self._current
        if article is None:
            article = self._current = Article(position, name)
            article.body = (self.spool.tell(), 0)
            self._cursor = 0
        elif article.position != position:
            raise ValueError(f"piece of input {position} before the last piece of input {article.position}")
        text = self._texts.get(position)
        parts = []
        for unit in units:
            opening = article.units == 0
            parts.append(gap_html(text[self._cursor:unit.start], opening, False) if text is not None
                         else "" if opening else " ")
            parts.append(unit_html(unit, self.min_score))
            self._cursor = unit.end
            article.units += 1
            article.topics[unit.topic] += 1
            article.stances[unit.stance] += 1
            article.uncertain += self.min_score is not None and unit.topic_score < self.min_score
        if last and text is not None and article.units:
            parts.append(gap_html(text[self._cursor:], False, True))
        self._emit("".join(parts))
        if last:
            article.body = (article.body[0], self.spool.tell())
            self.articles.append(article)
            self._texts.pop(position, None)
            self._current = None

    # --- writing ---

    def _title(self) -> str:
        names = [a.name for a in self.articles]
        if not names:
            return "Tagged articles"
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        return f"Tagged: {names[0]}{more}"

    def _head(self) -> str:
        return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
                f'<meta name="referrer" content="no-referrer">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<meta name="generator" content="karabakh-tagger {attr(__version__)}">\n'
                f'<title>{attr(self._title())}</title>\n<style>{CSS}</style>\n</head>\n<body>\n')

    def _legend(self) -> str:
        samples = "".join(f'<span class="u s-{_slug(s)}"><span class="k">{SYMBOLS.get(s, "•")}</span>'
                          f'{esc(s)}</span>' for s in self.classes["stance"])
        unsure = (f'<span class="u s-neutral unc">uncertain<span class="t">topic?</span></span> topic '
                  f'score below {self.min_score:.2f}' if self.min_score is not None else
                  "no unit is marked uncertain (tag with --min-score X to mark those below X)")
        return (f'<p class="legend">Stance: {samples} · {unsure} · the small label is the topic; '
                f'hover a unit for its scores.</p>\n')

    def _header(self) -> str:
        n_units = sum(a.units for a in self.articles)
        version = self._version()
        out = [f'<header>\n<h1>{esc(self._title())}</h1>\n<p class="meta">{len(self.articles)} '
               f'article(s), {n_units} units, tagged {self.created:%Y-%m-%d %H:%M} UTC with '
               f'{esc(version)}</p>\n', self._legend()]
        if self.problems:
            items = "".join(f"<li>{esc(p)}</li>" for p in self.problems)
            out.append(f'<div class="problems"><p>Not tagged ({len(self.problems)} input(s)):</p>'
                       f'<ul>{items}</ul></div>\n')
        if not self.articles:
            out.append('<p class="none">No article with any text was given.</p>\n')
        if len(self.articles) > 1:
            out.append(self._comparison())
        out.append("</header>\n<main>\n")
        return "".join(out)

    def _comparison(self) -> str:
        stances = self.classes["stance"]
        head = "".join(f'<th class="r">{esc(s)}</th>' for s in stances)
        unsure_head = '<th class="r">uncertain</th>' if self.min_score is not None else ""
        rows = []
        for a in self.articles:
            mini = "".join(f'<span class="s-{_slug(s)}" style="width:{100 * a.stances[s] / a.units:.2f}%">'
                           f'</span>' for s in stances if a.stances[s]) if a.units else ""
            shares = "".join(f'<td class="r">{_pct(a.stances[s], a.units)}</td>' for s in stances)
            unsure = f'<td class="r">{a.uncertain}</td>' if self.min_score is not None else ""
            top = ", ".join(f"{esc(t)} {c}" for t, c in a.topics.most_common(TOP_TOPICS))
            rows.append(f'<tr><td><a href="#{a.anchor}">{esc(a.name)}</a></td><td class="r">{a.units}</td>'
                        f'<td><span class="mini" aria-hidden="true">{mini}</span></td>{shares}{unsure}'
                        f'<td>{top}</td></tr>\n')
        return (f'<table class="compare">\n<caption>The articles compared: stance shares of all units, '
                f'top topics by units</caption>\n<thead><tr><th>article</th><th class="r">units</th>'
                f'<th>stance</th>{head}{unsure_head}<th>top topics</th></tr></thead>\n<tbody>\n'
                f'{"".join(rows)}</tbody>\n</table>\n')

    def _version(self) -> str:
        if self.manifest is None or self.model not in self.manifest.models:
            return f"model {self.model} (no manifest)"
        return f"model {self.manifest.version_name(self.model)}"

    def _footer(self) -> str:
        trained = f", trained {self.manifest.created}" if self.manifest is not None else ""
        return (f'</main>\n<footer>\n<p>{esc(self._version())}{esc(trained)} · page written '
                f'{self.created:%Y-%m-%d %H:%M} UTC by karabakh-tagger {esc(__version__)}</p>\n'
                f'<p class="trust">{esc(trust_sentence(self.manifest, self.model))}</p>\n</footer>\n'
                f'</body>\n</html>\n')

    def write(self, out: BinaryIO) -> None:
        """The whole page: header and comparison, each article (bars, then its spooled text), footer."""
        if self._current is not None:
            raise ValueError(f"input {self._current.position} is still open (its last piece is missing)")
        out.write((self._head() + self._header()).encode("utf-8"))
        for a in self.articles:
            out.write((f'<section class="article" id="{a.anchor}" aria-labelledby="{a.anchor}-h">\n'
                       f'<h2 id="{a.anchor}-h">{esc(a.name)}</h2>\n'
                       f'{_summary_html(a, self.classes, self.min_score)}'
                       f'<div class="text"><p>').encode())
            self._copy(*a.body, out)
            out.write(b"</p></div>\n</section>\n")
        out.write(self._footer().encode("utf-8"))

    def _copy(self, start: int, end: int, out: BinaryIO) -> None:
        self.spool.seek(start)
        left = end - start
        while left > 0:
            block = self.spool.read(min(left, 1 << 20))
            if not block:
                break
            out.write(block)
            left -= len(block)
        self.spool.seek(0, io.SEEK_END)


def render(articles: Iterable[tuple[str, str, Sequence[TaggedUnit]]], manifest: Manifest | None,
           model: str, classes: dict[str, Sequence[str]], min_score: float | None = None,
           created: datetime | None = None) -> str:
    """The page for ``(name, text, units)`` articles, as a string (for scripts and tests)."""
    with Page(manifest, model, classes, min_score, created, spool=io.BytesIO()) as page:
        for position, (name, text, units) in enumerate(articles):
            page.keep(position, text)
            page.add(position, name, units, last=True)
        out = io.BytesIO()
        page.write(out)
    return out.getvalue().decode("utf-8")

