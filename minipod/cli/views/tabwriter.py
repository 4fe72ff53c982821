"""Go's text/tabwriter, as kubectl and crictl print their tables and
`describe` its blocks."""

from __future__ import annotations

from collections.abc import Sequence


class TabWriter:
    """Go's text/tabwriter (padchar ' ', left-aligned), over whole text.

    A cell is text ended by a tab; a column block is a run of consecutive
    lines that have a cell in that column, and each block is as wide as its
    widest cell plus ``padding`` (at least ``minwidth``). The last cell of a
    line is not part of any column. ``remember`` is the RememberWidths flag of
    kubectl's fork (github.com/liggitt/tabwriter): a column never gets
    narrower than it was in an earlier flush, so `get -w` rows stay aligned
    with the header.
    """

    def __init__(self, minwidth: int, padding: int, remember: bool = False) -> None:
        self.minwidth, self.padding, self.remember = minwidth, padding, remember
        self._maxwidths: list[int] = []

    def format(self, text: str) -> str:
        lines = [line.split("\t") for line in text.split("\n")]
        if lines and lines[-1] == [""]:
            lines.pop()  # text ends with a newline
        out: list[str] = []
        self._format(lines, 0, len(lines), [], out)
        return "".join(out)

    def _format(self, lines: list[list[str]], line0: int, line1: int, widths: list[int],
                out: list[str]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            self._write_lines(lines, line0, this, widths, out)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self.padding)
                this += 1
            if self.remember:
                if len(self._maxwidths) <= column:
                    self._maxwidths.append(width)
                elif self._maxwidths[column] > width:
                    width = self._maxwidths[column]
                else:
                    self._maxwidths[column] = width
            self._format(lines, line0, this, [*widths, width], out)
            line0 = this
        self._write_lines(lines, line0, line1, widths, out)

    @staticmethod
    def _write_lines(lines: list[list[str]], line0: int, line1: int, widths: list[int],
                     out: list[str]) -> None:
        for cells in lines[line0:line1]:
            for j, cell in enumerate(cells):
                out.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("\n")


def kubectl_table() -> TabWriter:
    """kubectl's printers.GetNewTabWriter: minwidth 6, padding 3, RememberWidths."""
    return TabWriter(6, 3, remember=True)


def tab_line(cells: Sequence[str]) -> str:
    return "\t".join(cells) + "\n"

