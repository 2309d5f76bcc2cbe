package queries

// paramNames lists the :name parameters in sql, in order of first use,
// skipping string literals, quoted identifiers and comments.
//
// TODO: use index.ParamNames once it lands; the index binds by it.
func paramNames(sql string) []string {
	var names []string
	seen := map[string]bool{}
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"' || c == '`':
			for i++; i < len(sql) && sql[i] != c; i++ {
			}
		case c == '[':
			for i++; i < len(sql) && sql[i] != ']'; i++ {
			}
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i++; i < len(sql) && sql[i] != '\n'; i++ {
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			for i += 2; i+1 < len(sql) && !(sql[i] == '*' && sql[i+1] == '/'); i++ {
			}
			i++
		case c == ':' && i+1 < len(sql) && (sql[i+1] == '_' || sql[i+1] >= 'a' && sql[i+1] <= 'z' || sql[i+1] >= 'A' && sql[i+1] <= 'Z'):
			j := i + 1
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			if name := sql[i+1 : j]; !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
			i = j - 1
		}
	}
	return names
}
