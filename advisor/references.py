"""The rule base's bibliography: where sources are cited, and how a citation is shown (label, title, link).

A rule base with a `references:` section cites by key (`source: [ovadia-2023]`): every key must name a
reference, and every reference should be cited. A rule base without one (written before references existed)
keeps its sources as plain-text citations, shown as they are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Optional

from advisor.models import Reference, RuleBase


@dataclass(frozen=True)
class Citation:
    """One cited source as a reader sees it; `key` and `title` are empty for a plain-text citation."""

    text: str  # the source as written in the rule base
    label: str  # short label shown where it is cited ("Ovadia et al. 2023")
    key: str = ""
    title: str = ""
    url: Optional[str] = None
    byline: str = ""  # authors (or the publisher when no author is named) and year
    venue: str = ""  # the publisher when authors are named

    @property
    def anchor(self) -> str:
        """The id of its entry in a report's References section."""
        return f"ref-{self.key}" if self.key else ""

    @property
    def title_stop(self) -> str:
        """The full stop a title needs after it ('' when it ends in '?', '!' or '.')."""
        return "" if self.title.endswith((".", "?", "!")) else "."


def citation_places(rulebase: RuleBase) -> Iterator[tuple[str, str]]:
    """Every (place, source) in the rule base, places like 'questions[2].values[0].source[1]'."""
    for qi, q in enumerate(rulebase.questions):
        for vi, v in enumerate(q.values):
            for si, src in enumerate(v.source):
                yield f"questions[{qi}].values[{vi}].source[{si}]", src
    for ri, rule in enumerate(rulebase.rules):
        for si, src in enumerate(rule.source):
            yield f"rules[{ri}].source[{si}]", src


def short_label(ref: Reference) -> str:
    """A short author-year label: 'Ovadia et al. 2023', 'Wu & Zou 2024', 'OpenAI n.d.'; `label` wins if set."""
    if ref.label:
        return ref.label
    authors = [a.strip() for a in ref.authors if a.strip()]
    if authors:
        surnames = [a.split()[-1] for a in authors]
        who = surnames[0] if len(surnames) == 1 else (
            f"{surnames[0]} & {surnames[1]}" if len(surnames) == 2 else f"{surnames[0]} et al.")
    else:
        who = ref.publisher.strip()
    return f"{who} {ref.year if ref.year is not None else 'n.d.'}"


MAX_AUTHORS = 6  # longer author lists are cut to the first three and "et al."


def byline(ref: Reference) -> str:
    """Authors (or the publisher when no author is named) and year: 'Eric Wu, Kevin Wu, James Zou (2024)'."""
    authors = [a.strip() for a in ref.authors if a.strip()]
    if len(authors) > MAX_AUTHORS:
        authors = authors[:3] + ["et al."]
    who = ", ".join(authors) if authors else ref.publisher.strip()
    return f"{who} ({ref.year if ref.year is not None else 'n.d.'})"


def cite(rulebase: RuleBase, sources: Iterable[str]) -> list[Citation]:
    """The citations of a list of sources, resolved against the rule base's references where it has them."""
    index = {ref.key: ref for ref in rulebase.references or ()}
    out = []
    for src in sources:
        ref = index.get(src)
        if ref is None:  # plain text (no references section), or a key the checks have already refused
            out.append(Citation(text=src, label=src))
        else:
            venue = ref.publisher.strip() if any(a.strip() for a in ref.authors) else ""
            out.append(Citation(text=src, label=short_label(ref), key=ref.key, title=ref.title.strip(),
                                url=ref.url, byline=byline(ref), venue=venue))
    return out


def cited_works(citations: Iterable[Citation]) -> list[Citation]:
    """The distinct references among citations, by label as a bibliography is (plain-text citations left out)."""
    seen: dict[str, Citation] = {}
    for c in citations:
        if c.key and c.key not in seen:
            seen[c.key] = c
    return sorted(seen.values(), key=lambda c: (c.label.casefold(), c.key))
