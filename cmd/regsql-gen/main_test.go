package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{name: "repos and seed", args: []string{"-repos", "3", "-seed", "2", "-quiet"}, wantOut: "3 repositories"},
		{name: "preset overridden", args: []string{"-preset", "large", "-repos", "2", "-quiet"}, wantOut: "2 repositories"},
		{name: "unknown preset", args: []string{"-preset", "huge"}, wantErr: `unknown preset "huge"`},
		{name: "no size", args: []string{}, wantErr: "-repos or -preset is required"},
		{name: "stray argument", args: []string{"-repos", "2", "extra"}, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(append([]string{"-out", t.TempDir()}, tt.args...), &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("run() = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run() = %v", err)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("run() printed %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
		})
	}
}
