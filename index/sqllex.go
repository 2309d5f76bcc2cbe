package index

// sqlText is what a lexical pass over SQL finds: the :name parameters and
// the statements, split at top-level semicolons. It knows just enough of
// SQLite's tokenizer to skip what may hold a ':' or a ';' that is not one:
// string literals ('...'), quoted identifiers ("...", `...`, [...]),
// comments (-- and /* */) and PostgreSQL-style :: casts.
type sqlText struct {
	params     []string // distinct, in order of first use
	statements []string // those holding more than whitespace and comments
}

// ParamNames returns the names of the :name parameters that query uses,
// each once, in order of first use, without the colon. Text inside string
// literals, quoted identifiers and comments is not looked at, and "::" is a
// cast, not a parameter.
func ParamNames(query string) []string {
	return lexSQL(query).params
}

func lexSQL(s string) sqlText {
	var (
		out     sqlText
		seen    = map[string]bool{}
		start   = 0     // of the current statement
		content = false // the current statement has a token
	)
	endStatement := func(end int) {
		if content {
			out.statements = append(out.statements, s[start:end])
		}
		start, content = end+1, false
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(s, i, c)
			content = true
		case c == '[':
			i = skipTo(s, i+1, "]")
			content = true
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			i = skipTo(s, i+2, "\n")
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			i = skipTo(s, i+2, "*/")
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			i += 2
			content = true
		case c == ':':
			j := i + 1
			for j < len(s) && isParamChar(s[j]) {
				j++
			}
			if name := s[i+1 : j]; name != "" && !seen[name] {
				seen[name] = true
				out.params = append(out.params, name)
			}
			i = max(j, i+1)
			content = true
		case c == ';':
			endStatement(i)
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		default:
			i++
			content = true
		}
	}
	endStatement(len(s))
	return out
}

// skipQuoted returns the index after the quote that closes the one at
// s[i]; a doubled quote is an escaped one. An unclosed quote runs to the
// end, where SQLite reports it.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] != q {
			continue
		}
		if j+1 < len(s) && s[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(s)
}

// skipTo returns the index after the first end at or after i, or len(s).
func skipTo(s string, i int, end string) int {
	for j := i; j+len(end) <= len(s); j++ {
		if s[j:j+len(end)] == end {
			return j + len(end)
		}
	}
	return len(s)
}

func isParamChar(c byte) bool {
	return c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
