package walker

import (
	"strings"
	"testing"
)

func TestValidRepoName(t *testing.T) {
	tests := []struct {
		name string
		repo string
		want bool
	}{
		{name: "one component", repo: "alpine", want: true},
		{name: "nested", repo: "org/team/app", want: true},
		{name: "separators", repo: "a.b_c__d-e--f", want: true},
		{name: "domain with port", repo: "Registry.example.com:5000/app", want: true},
		{name: "uppercase path", repo: "Org/App", want: false},
		{name: "triple underscore", repo: "a___b", want: false},
		{name: "leading separator", repo: "-app", want: false},
		{name: "trailing separator", repo: "app.", want: false},
		{name: "empty component", repo: "org//app", want: false},
		{name: "path of 255", repo: strings.Repeat("a", 255), want: true},
		{name: "path of 256", repo: strings.Repeat("a", 256), want: false},
		{name: "domain does not count toward 255", repo: "example.com/" + strings.Repeat("a", 255), want: true},
		{name: "space", repo: "my app", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validRepoName(tt.repo); got != tt.want {
				t.Errorf("validRepoName(%q) = %v, want %v", tt.repo, got, tt.want)
			}
		})
	}
}
