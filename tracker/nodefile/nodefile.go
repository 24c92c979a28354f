// Package nodefile reads which node images a cluster runs from what `kubectl get nodes`
// and `az aks` print: the files `nodewatch nodes -f` takes. It links no client of the API
// server (that is tracker/kubernetes), so that it stays small to fuzz.
package nodefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nodewatch/nodewatch/tracker"
)

// Shapes of input `nodes -f` reads, as it names them back.
const (
	ShapeNodeList      = "kubectl get nodes (a List of Nodes)"
	ShapeNode          = "kubectl get node (one Node)"
	ShapeNodepoolList  = "az aks nodepool list"
	ShapeNodepoolShow  = "az aks nodepool show"
	ShapeManagedCluser = "az aks show (agentPoolProfiles)"
)

// expected is what the error of an input of no known shape says was expected.
const expected = "what `kubectl get nodes -o json|yaml` (a List, NodeList or Node), `az aks nodepool list|show -o json` or `az aks show -o json` prints"

// Input is what one file held: nodes (kubectl) or agent pools (az), and the cluster it
// names, "" where it names none (kubectl output does not).
type Input struct {
	Shape      string
	Cluster    string
	Nodes      []tracker.Node
	AgentPools []tracker.AgentPool
}

// Groups are the input's pools, one per pool and image.
func (in Input) Groups() []tracker.PoolGroup {
	if in.AgentPools != nil {
		return tracker.GroupAgentPools(in.Cluster, in.AgentPools)
	}
	return tracker.GroupNodes(in.Cluster, in.Nodes)
}

// object is the part of a Node (or of an item of a List) nodewatch reads.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Status struct {
		NodeInfo struct {
			OSImage       string `json:"osImage"`
			KernelVersion string `json:"kernelVersion"`
			Architecture  string `json:"architecture"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

// agentPool is an agent pool as az prints it.
type agentPool struct {
	Name             string `json:"name"`
	Count            *int   `json:"count"`
	NodeImageVersion string `json:"nodeImageVersion"`
	OSType           string `json:"osType"`
	OSSKU            string `json:"osSku"`
	ID               string `json:"id"`
	Type             string `json:"type"`
}

func (p agentPool) pool() tracker.AgentPool {
	n := 0
	if p.Count != nil {
		n = *p.Count
	}
	return tracker.AgentPool{Name: p.Name, NodeImageVersion: p.NodeImageVersion, Count: n, OSType: p.OSType, OSSKU: p.OSSKU}
}

// isAgentPool: az prints every agent pool with a name and its type or image.
func (p agentPool) isAgentPool() bool {
	return p.Name != "" && (p.NodeImageVersion != "" || strings.HasSuffix(p.Type, "/agentPools"))
}

var clusterOfID = regexp.MustCompile(`(?i)/managedClusters/([^/]+)`)

// Labels of the pool a node belongs to, in the order AKS has used them.
var PoolLabels = []string{"kubernetes.azure.com/agentpool", "agentpool"}

// LabelNodeImageVersion carries the node's image as AKS names it.
const LabelNodeImageVersion = "kubernetes.azure.com/node-image-version"

// NodeOf reduces a node's labels and nodeInfo to what nodewatch keeps.
func NodeOf(name string, labels map[string]string, osImage, kernel, arch string) tracker.Node {
	n := tracker.Node{Name: name, NodeImageVersion: labels[LabelNodeImageVersion], OSImage: osImage, Kernel: kernel, Arch: arch}
	for _, l := range PoolLabels {
		if v := labels[l]; v != "" {
			n.Pool = v
			break
		}
	}
	if n.Arch == "" {
		n.Arch = labels["kubernetes.io/arch"]
	}
	return n
}

func (o object) node() tracker.Node {
	i := o.Status.NodeInfo
	return NodeOf(o.Metadata.Name, o.Metadata.Labels, i.OSImage, i.KernelVersion, i.Architecture)
}

// Read reads one file of the accepted shapes; name is how errors call it. JSON is
// streamed item by item, so a 5,000-node list is never held whole; YAML is converted.
func Read(name string, r io.Reader) (Input, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	first, err := firstByte(br)
	if err != nil {
		return Input{}, fmt.Errorf("%s: %w; expected %s", name, err, expected)
	}
	var src io.Reader = br
	if first != '{' && first != '[' {
		data, err := io.ReadAll(br)
		if err != nil {
			return Input{}, fmt.Errorf("%s: %w", name, err)
		}
		if bytes.HasPrefix(data, []byte("NAME ")) {
			return Input{}, fmt.Errorf("%s: a table, as kubectl prints without -o json; expected %s", name, expected)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return Input{}, fmt.Errorf("%s: neither JSON nor YAML (%v); expected %s", name, err, expected)
		}
		js = bytes.TrimSpace(js)
		if len(js) == 0 || js[0] != '{' && js[0] != '[' {
			return Input{}, fmt.Errorf("%s: YAML that is no object or list; expected %s", name, expected)
		}
		first, src = js[0], bytes.NewReader(js)
	}
	dec := json.NewDecoder(src)
	var in Input
	if first == '[' {
		in, err = readPoolArray(dec)
	} else {
		in, err = readObject(dec)
	}
	if err != nil {
		return Input{}, fmt.Errorf("%s: %w", name, err)
	}
	return in, nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return 0, errors.New("empty input")
		}
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // a UTF-8 byte order mark, as Windows shells write
			br.Discard(2)
			continue
		}
		return b, br.UnreadByte()
	}
}

// readPoolArray reads `az aks nodepool list`: an array of agent pools.
func readPoolArray(dec *json.Decoder) (Input, error) {
	var pools []agentPool
	if err := dec.Decode(&pools); err != nil {
		return Input{}, fmt.Errorf("a JSON array that does not parse (%v); expected %s", err, expected)
	}
	in := Input{Shape: ShapeNodepoolList, AgentPools: []tracker.AgentPool{}}
	for i, p := range pools {
		if !p.isAgentPool() {
			return Input{}, fmt.Errorf("a JSON array whose element %d is no agent pool (no name and nodeImageVersion); expected %s", i, expected)
		}
		in.AgentPools = append(in.AgentPools, p.pool())
		if m := clusterOfID.FindStringSubmatch(p.ID); m != nil && in.Cluster == "" {
			in.Cluster = m[1]
		}
	}
	return in, nil
}

// readObject walks the keys of one JSON object: a List or NodeList (whose items are
// streamed), a Node, an agent pool, or a managed cluster.
func readObject(dec *json.Decoder) (Input, error) {
	if _, err := dec.Token(); err != nil { // {
		return Input{}, fmt.Errorf("JSON that does not parse (%v); expected %s", err, expected)
	}
	var (
		top      object
		pool     agentPool
		profiles []agentPool
		items    []tracker.Node
		hasItems bool
		hasProfs bool
		itemKind string
		fields   = map[string]json.RawMessage{}
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Input{}, fmt.Errorf("JSON that does not parse (%v)", err)
		}
		key, _ := tok.(string)
		switch key {
		case "items":
			hasItems = true
			if items, itemKind, err = readItems(dec); err != nil {
				return Input{}, err
			}
		case "agentPoolProfiles":
			hasProfs = true
			if err := dec.Decode(&profiles); err != nil {
				return Input{}, fmt.Errorf("agentPoolProfiles do not parse: %v", err)
			}
		default:
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return Input{}, fmt.Errorf("JSON that does not parse (%v)", err)
			}
			fields[key] = raw
		}
	}
	whole, _ := json.Marshal(fields)
	if err := json.Unmarshal(whole, &top); err != nil {
		return Input{}, fmt.Errorf("JSON that does not parse (%v)", err)
	}
	_ = json.Unmarshal(whole, &pool)
	switch {
	case hasItems && (top.Kind == "List" || top.Kind == "NodeList"):
		if itemKind != "" && itemKind != "Node" {
			return Input{}, fmt.Errorf("a %s of %s objects, not Nodes; expected %s", top.Kind, itemKind, expected)
		}
		return Input{Shape: ShapeNodeList, Nodes: items}, nil
	case top.Kind == "Node":
		return Input{Shape: ShapeNode, Nodes: []tracker.Node{top.node()}}, nil
	case hasProfs:
		in := Input{Shape: ShapeManagedCluser, Cluster: pool.Name, AgentPools: []tracker.AgentPool{}}
		for _, p := range profiles {
			in.AgentPools = append(in.AgentPools, p.pool())
		}
		return in, nil
	case pool.isAgentPool():
		in := Input{Shape: ShapeNodepoolShow, AgentPools: []tracker.AgentPool{pool.pool()}}
		if m := clusterOfID.FindStringSubmatch(pool.ID); m != nil {
			in.Cluster = m[1]
		}
		return in, nil
	case top.Kind != "":
		return Input{}, fmt.Errorf("a Kubernetes object of kind %q; expected %s", top.Kind, expected)
	}
	return Input{}, fmt.Errorf("a JSON object with neither kind, items, nodeImageVersion nor agentPoolProfiles; expected %s", expected)
}

// readItems streams the items of a List: each Node is reduced as it is read. It returns
// the nodes and the kind of an item that is no Node.
func readItems(dec *json.Decoder) ([]tracker.Node, string, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, "", fmt.Errorf("items is no list (%v)", err)
	}
	nodes := []tracker.Node{}
	other := ""
	for i := 0; dec.More(); i++ {
		var o object
		if err := dec.Decode(&o); err != nil {
			return nil, "", fmt.Errorf("item %d does not parse: %v", i, err)
		}
		if o.Kind != "" && o.Kind != "Node" {
			other = o.Kind
			continue
		}
		nodes = append(nodes, o.node())
	}
	if _, err := dec.Token(); err != nil {
		return nil, "", fmt.Errorf("items do not end: %v", err)
	}
	return nodes, other, nil
}
