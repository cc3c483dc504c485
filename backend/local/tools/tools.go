// Package tools finds what `make tools` installs into the module's .tools
// folder (npm packages under .tools/node, Go tools under .tools/bin), for
// tests that run the real parts: tests run in their package's folder, so
// the folder is found from the module's root.
package tools

import (
	"errors"
	"os"
	"path/filepath"
)

// ModuleRoot is the nearest folder at or above the working directory that
// holds a go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Path is elem under the module's .tools folder, whether or not it exists.
func Path(elem ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{root, ".tools"}, elem...)...), nil
}

// NodeModule is the npm package name under .tools/node.
func NodeModule(name string) (string, error) {
	return Path("node", "node_modules", name)
}

// NodeBin is the npm command name under .tools/node.
func NodeBin(name string) (string, error) {
	return Path("node", "node_modules", ".bin", name)
}
