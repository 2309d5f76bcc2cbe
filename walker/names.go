package walker

import "regexp"

// repoNameRegexp is the registry's repository name grammar (reference.WithName
// of github.com/distribution/reference v0.6.0): an optional domain, then path
// components. It is spelled out here to keep that module an indirect
// dependency.
var repoNameRegexp = regexp.MustCompile(func() string {
	const (
		alphanumeric        = `[a-z0-9]+`
		separator           = `(?:[._]|__|[-]+)`
		domainNameComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		optionalPort        = `(?::[0-9]+)?`
		ipv6address         = `\[(?:[a-fA-F0-9:]+)\]`
		domainName          = domainNameComponent + `(?:\.` + domainNameComponent + `)*`
		domainAndPort       = `(?:` + domainName + `|` + ipv6address + `)` + optionalPort
		pathComponent       = alphanumeric + `(?:` + separator + alphanumeric + `)*`
		remoteName          = pathComponent + `(?:/` + pathComponent + `)*`
	)
	return `^(?:(` + domainAndPort + `)/)?(` + remoteName + `)$`
}())

// maxRepoNameLen is reference.RepositoryNameTotalLengthMax; like the
// registry, it bounds the path part of the name, not the domain.
const maxRepoNameLen = 255

// validRepoName reports whether the registry's reference grammar accepts
// name; the garbage collector aborts on a repository it rejects.
func validRepoName(name string) bool {
	m := repoNameRegexp.FindStringSubmatch(name)
	return m != nil && len(m[2]) <= maxRepoNameLen
}
