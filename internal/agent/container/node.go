package container

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"strings"
)

// Node is what a finding reports about the host it was found on.
type Node struct {
	HostName string
	// IPs are the host's addresses, IPv4 first, loopback and link-local
	// left out.
	IPs []string
	// ID is stable for the machine: a hash of its machine id (never the id
	// itself, which is meant to stay private), or of the host name where
	// there is none.
	ID          string
	ClusterID   string
	ClusterName string
}

type nodeConfig struct {
	machineIDFiles         []string
	clusterID, clusterName string
	hostname               func() (string, error)
	interfaceAddrs         func() ([]net.Addr, error)
}

// NodeOption configures Describe.
type NodeOption func(*nodeConfig)

// WithCluster sets the cluster id and name (from the agent's configuration:
// a node does not know which cluster it belongs to).
func WithCluster(id, name string) NodeOption {
	return func(c *nodeConfig) { c.clusterID, c.clusterName = id, name }
}

// WithMachineIDFiles replaces the machine id files tried in order
// (/etc/machine-id, /var/lib/dbus/machine-id).
func WithMachineIDFiles(paths ...string) NodeOption {
	return func(c *nodeConfig) { c.machineIDFiles = paths }
}

// DescribeNode returns the host's facts.
func DescribeNode(opts ...NodeOption) Node {
	c := nodeConfig{
		machineIDFiles: []string{"/etc/machine-id", "/var/lib/dbus/machine-id"},
		hostname:       os.Hostname,
		interfaceAddrs: net.InterfaceAddrs,
	}
	for _, o := range opts {
		o(&c)
	}
	n := Node{ClusterID: c.clusterID, ClusterName: c.clusterName}
	n.HostName, _ = c.hostname()
	if addrs, err := c.interfaceAddrs(); err == nil {
		var v4, v6 []string
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				v4 = append(v4, ipn.IP.String())
			} else {
				v6 = append(v6, ipn.IP.String())
			}
		}
		n.IPs = append(v4, v6...)
	}
	seed := ""
	for _, p := range c.machineIDFiles {
		if b, err := os.ReadFile(p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				seed = "machine-id:" + s
				break
			}
		}
	}
	if seed == "" {
		seed = "hostname:" + n.HostName
	}
	sum := sha256.Sum256([]byte("vigil-node\x00" + seed))
	n.ID = hex.EncodeToString(sum[:16])
	return n
}
