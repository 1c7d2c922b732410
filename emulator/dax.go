package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// SupportedDAX names the only DAX query forms the emulator evaluates.
const SupportedDAX = `EVALUATE ROW("name", COUNTROWS('Table')), EVALUATE ROW("name", DISTINCTCOUNT('Table'[Column])) ` +
	`(several "name", expression pairs allowed) and EVALUATE TOPN(N, 'Table'[, 'Table'[Column][, ASC|DESC]])`

// daxQuery is a parsed query: either ROW with named scalars or TOPN over a table.
type daxQuery struct {
	row  []daxScalar // ROW("name", scalar, ...)
	topN *daxTopN
}

// daxScalar is one named ROW column: COUNTROWS(table) or DISTINCTCOUNT(table[column]).
type daxScalar struct {
	name, fn, table, column string
}

// daxTopN is TOPN(n, table[, orderBy[, ASC|DESC]]).
type daxTopN struct {
	n                int
	table, orderBy   string
	ascending, order bool
}

// daxToken is one lexical token: kind 'i' identifier/number, 's' "string", 't' 'table',
// 'c' [column], or a punctuation byte.
type daxToken struct {
	kind byte
	text string
}

// lexDAX splits q into tokens; it fails on characters outside the supported grammar.
func lexDAX(q string) ([]daxToken, error) {
	var out []daxToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '(' || c == ')' || c == ',':
			out = append(out, daxToken{kind: c})
			i++
		case c == '"' || c == '\'' || c == '[':
			closer := map[byte]byte{'"': '"', '\'': '\'', '[': ']'}[c]
			text, n, err := lexQuoted(q[i+1:], closer)
			if err != nil {
				return nil, err
			}
			out = append(out, daxToken{kind: map[byte]byte{'"': 's', '\'': 't', '[': 'c'}[c], text: text})
			i += n + 1
		case isIdentByte(c):
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			out = append(out, daxToken{kind: 'i', text: q[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	return out, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// lexQuoted reads up to the closer (doubled closers escape it) and returns the text and the
// bytes consumed, closer included.
func lexQuoted(s string, closer byte) (string, int, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != closer {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == closer {
			b.WriteByte(closer)
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, fmt.Errorf("unterminated %c", closer)
}

// daxParser walks the tokens of one query.
type daxParser struct {
	toks []daxToken
	pos  int
}

// parseDAX parses one of the supported query forms.
func parseDAX(q string) (*daxQuery, error) {
	toks, err := lexDAX(q)
	if err != nil {
		return nil, err
	}
	p := &daxParser{toks: toks}
	if !p.keyword("EVALUATE") {
		return nil, fmt.Errorf("the query must start with EVALUATE")
	}
	var out daxQuery
	switch {
	case p.keyword("ROW"):
		out.row, err = p.row()
	case p.keyword("TOPN"):
		out.topN, err = p.topN()
	default:
		err = fmt.Errorf("only ROW and TOPN are supported after EVALUATE")
	}
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected text after the expression")
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (p *daxParser) peek() daxToken {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return daxToken{}
}

// keyword consumes an identifier equal to kw (case-insensitive, as DAX).
func (p *daxParser) keyword(kw string) bool {
	if t := p.peek(); t.kind == 'i' && strings.EqualFold(t.text, kw) {
		p.pos++
		return true
	}
	return false
}

func (p *daxParser) punct(c byte) error {
	if p.peek().kind != c {
		return fmt.Errorf("expected %q", c)
	}
	p.pos++
	return nil
}

// tableRef reads 'Table' or Table.
func (p *daxParser) tableRef() (string, error) {
	t := p.peek()
	if t.text == "" || (t.kind != 't' && (t.kind != 'i' || !isName(t.text))) {
		return "", fmt.Errorf("expected a table reference")
	}
	p.pos++
	return t.text, nil
}

func isName(s string) bool {
	return s != "" && !(s[0] >= '0' && s[0] <= '9') && !strings.Contains(s, ".")
}

// columnRef reads 'Table'[Column].
func (p *daxParser) columnRef() (table, column string, err error) {
	if table, err = p.tableRef(); err != nil {
		return "", "", err
	}
	if p.peek().kind != 'c' || p.peek().text == "" {
		return "", "", fmt.Errorf("expected a column reference 'Table'[Column]")
	}
	column = p.peek().text
	p.pos++
	return table, column, nil
}

// row parses ("name", scalar, ...) after ROW.
func (p *daxParser) row() ([]daxScalar, error) {
	if err := p.punct('('); err != nil {
		return nil, err
	}
	var out []daxScalar
	for {
		if p.peek().kind != 's' {
			return nil, fmt.Errorf("ROW expects a \"name\"")
		}
		sc := daxScalar{name: p.peek().text}
		p.pos++
		if err := p.punct(','); err != nil {
			return nil, err
		}
		if err := p.scalar(&sc); err != nil {
			return nil, err
		}
		out = append(out, sc)
		if p.peek().kind != ',' {
			return out, p.punct(')')
		}
		p.pos++
	}
}

// scalar parses COUNTROWS(table) or DISTINCTCOUNT(table[column]).
func (p *daxParser) scalar(sc *daxScalar) error {
	var err error
	switch {
	case p.keyword("COUNTROWS"):
		sc.fn = "COUNTROWS"
		if err = p.punct('('); err == nil {
			sc.table, err = p.tableRef()
		}
	case p.keyword("DISTINCTCOUNT"):
		sc.fn = "DISTINCTCOUNT"
		if err = p.punct('('); err == nil {
			sc.table, sc.column, err = p.columnRef()
		}
	default:
		return fmt.Errorf("only COUNTROWS and DISTINCTCOUNT are supported in ROW")
	}
	if err != nil {
		return err
	}
	return p.punct(')')
}

// topN parses (N, table[, table[column][, ASC|DESC]]) after TOPN.
func (p *daxParser) topN() (*daxTopN, error) {
	if err := p.punct('('); err != nil {
		return nil, err
	}
	t := p.peek()
	n, err := strconv.Atoi(t.text)
	if t.kind != 'i' || err != nil || n < 0 {
		return nil, fmt.Errorf("TOPN expects a non-negative integer count")
	}
	p.pos++
	out := &daxTopN{n: n}
	if err := p.punct(','); err != nil {
		return nil, err
	}
	if out.table, err = p.tableRef(); err != nil {
		return nil, err
	}
	if p.peek().kind == ',' {
		p.pos++
		var tbl string
		if tbl, out.orderBy, err = p.columnRef(); err != nil {
			return nil, err
		}
		if !strings.EqualFold(tbl, out.table) {
			return nil, fmt.Errorf("TOPN can order only by a column of its table")
		}
		out.order = true
		if p.peek().kind == ',' {
			p.pos++
			switch {
			case p.keyword("ASC"), p.keyword("1"):
				out.ascending = true
			case p.keyword("DESC"), p.keyword("0"):
			default:
				return nil, fmt.Errorf("TOPN order must be ASC or DESC")
			}
		}
	}
	return out, p.punct(')')
}
