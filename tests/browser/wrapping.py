"""How text wraps in a list, measured in the browser: the lines each word and each cell take."""

from __future__ import annotations

from typing import Any

# Each run of non-space characters of each cell as a DOM Range: a word broken across lines
# has client rectangles on more than one line (a <wbr> splits a name into separate words).
_LINES_OF_WORDS = """(selector) => {
  const out = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const tops = new Set([...range.getClientRects()].map(rect => Math.round(rect.top)));
        out.push([match[0], tops.size]);
      }
    }
  }
  return out;
}"""

_LINES_OF_TEXT = """(cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
}"""


def broken_words(page: Any, selector: str = "#result_list td, #result_list th") -> list[str]:
    """The words split across lines in the matching cells."""
    return [word for word, lines in page.evaluate(_LINES_OF_WORDS, selector) if lines > 1]


def lines_of(page: Any, selector: str) -> int:
    """How many lines the text of the first matching element takes."""
    return page.locator(selector).first.evaluate(_LINES_OF_TEXT)
