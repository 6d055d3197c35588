// Nomad's own Go `api` package against caravan's ACL API: policies and tokens through
// ACLPolicies() and ACLTokens() on a server, and a token made there used on a client that
// resolves it through the server. The agents are the binary in CARAVAN_BIN, on loopback.
package goapi

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// agent starts `caravan agent` with these flags and returns its address; it is killed when
// the test ends.
func agent(t *testing.T, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"agent", "-bind=127.0.0.1", "-http-port=0", "-data-dir=" + dir}, flags...)
	cmd := exec.Command(os.Getenv("CARAVAN_BIN"), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if addr, ok := strings.CutPrefix(lines.Text(), "Serving HTTP on "); ok {
			go func() {
				for lines.Scan() {
				}
			}()
			return strings.TrimSuffix(addr, "/")
		}
	}
	t.Fatalf("the agent exited before serving")
	return ""
}

func client(t *testing.T, addr, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: addr, SecretID: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually retries check until it passes (a state to wait for, never a fixed sleep).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestACLThroughNomadsGoAPI(t *testing.T) {
	server := agent(t, "-server", "-node=server", "-acl-enabled")
	anonymous := client(t, server, "")
	root, _, err := anonymous.ACLTokens().Bootstrap(nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := client(t, server, root.SecretID)
	for name, rules := range map[string]string{
		"node-writer": `node { policy = "write" }`,
		"reader":      `node { policy = "read" }`,
	} {
		if _, err := admin.ACLPolicies().Upsert(&api.ACLPolicy{Name: name, Description: "go", Rules: rules}, nil); err != nil {
			t.Fatal(err)
		}
	}
	policies, _, err := admin.ACLPolicies().List(nil)
	if err != nil || len(policies) != 2 {
		t.Fatalf("policies %v, %v", policies, err)
	}
	info, _, err := admin.ACLPolicies().Info("reader", nil)
	if err != nil || info.Rules != `node { policy = "read" }` || info.Description != "go" {
		t.Fatalf("policy %+v, %v", info, err)
	}
	if _, err := anonymous.ACLPolicies().Upsert(&api.ACLPolicy{Name: "x", Rules: "node { policy = \"write\" }"}, nil); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("an anonymous write: %v", err)
	}
	node, _, err := admin.ACLTokens().Create(&api.ACLToken{Name: "node", Type: "client", Policies: []string{"node-writer"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := admin.ACLTokens().Create(&api.ACLToken{Name: "reader", Type: "client", Policies: []string{"reader"}, ExpirationTTL: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reader.ExpirationTime == nil || reader.ExpirationTTL != time.Hour {
		t.Fatalf("token %+v", reader)
	}
	tokens, _, err := admin.ACLTokens().List(nil)
	if err != nil || len(tokens) != 3 {
		t.Fatalf("tokens %v, %v", tokens, err)
	}
	self, _, err := client(t, server, reader.SecretID).ACLTokens().Self(nil)
	if err != nil || self.AccessorID != reader.AccessorID {
		t.Fatalf("self %+v, %v", self, err)
	}
	reader.Name = "renamed"
	updated, _, err := admin.ACLTokens().Update(reader, nil)
	if err != nil || updated.Name != "renamed" {
		t.Fatalf("update %+v, %v", updated, err)
	}

	config := filepath.Join(t.TempDir(), "client.hcl")
	text := fmt.Sprintf("acl {\n enabled = true\n token_ttl = \"1s\"\n}\nclient {\n node_token = %q\n}\n", node.SecretID)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	onClient := agent(t, "-node=client", "-servers="+strings.TrimPrefix(server, "http://"), "-config="+config)
	var stats map[string]any
	if _, err := client(t, onClient, reader.SecretID).Raw().Query("/v1/client/stats", &stats, nil); err != nil {
		t.Fatalf("the server's token on the client: %v", err)
	}
	if _, err := admin.ACLTokens().Delete(reader.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the client refuses the deleted token", func() error {
		_, err := client(t, onClient, reader.SecretID).Raw().Query("/v1/client/stats", &stats, nil)
		if err == nil || !strings.Contains(err.Error(), "403") {
			return fmt.Errorf("still accepted: %v", err)
		}
		return nil
	})
}
