package aksnotes_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/aksnotes"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
)

// release is the part of GitHub's release JSON the tests read.
type release struct {
	Tag  string `json:"tag_name"`
	Body string `json:"body"`
}

func readReleases(tb testing.TB, world string) []release {
	tb.Helper()
	path := filepath.Join(trackertest.Fixtures(tb), world, "github", "Azure", "AKS", "releases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var rs []release
	if err := json.Unmarshal(data, &rs); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	if len(rs) == 0 {
		tb.Fatalf("%s: no releases", path)
	}
	return rs
}

func ref(os, version, path string) tracker.AKSImageRef {
	return tracker.AKSImageRef{OS: os, Version: version, NotesPath: path}
}

// The expected refs were read from the bodies of world-2026-05-31 (every line with a link
// ending in txt), the OS from the path or, for Windows, from the build number.
func TestParseBody_realReleases(t *testing.T) {
	const (
		u1604 = "Ubuntu 16.04"
		u1804 = "Ubuntu 18.04"
		u2204 = "Ubuntu 22.04"
		u2404 = "Ubuntu 24.04"
		al2   = "Azure Linux 2.0"
		al3   = "Azure Linux 3.0"
		ws19  = "Windows Server 2019"
		ws22  = "Windows Server 2022"
		ws23  = "Windows Server 23H2"
		ws25  = "Windows Server 2025"
	)
	tests := []struct {
		tag  string
		why  string
		want []tracker.AKSImageRef
	}{
		{"2026-04-28", "the newest release, whole", []tracker.AKSImageRef{
			ref(ws22, "20348.5020.260415", "vhd-notes/AKSWindows/2022/20348.5020.260415.txt"),
			ref(ws25, "26100.32690.260415", "vhd-notes/AKSWindows/2025/26100.32690.260415.txt"),
			ref(ws23, "25398.2274.260415", "vhd-notes/AKSWindows/23H2/25398.2274.260415.txt"),
			ref(al3, "202603.18.1", "vhd-notes/AzureLinuxv3/202603.18.1.txt"),
			ref(al3, "202603.30.0", "vhd-notes/AzureLinuxv3/202603.30.0.txt"),
			ref(al3, "202604.13.0", "vhd-notes/AzureLinuxv3/202604.13.0.txt"),
			ref(al3, "202604.24.0", "vhd-notes/AzureLinuxv3/202604.24.0.txt"),
			ref(u2204, "202603.18.1", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202603.18.1.txt"),
			ref(u2204, "202603.30.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202603.30.0.txt"),
			ref(u2204, "202604.13.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202604.13.0.txt"),
			ref(u2204, "202604.24.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202604.24.0.txt"),
			ref(u2404, "202603.18.1", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202603.18.1.txt"),
			ref(u2404, "202603.30.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202603.30.0.txt"),
			ref(u2404, "202604.13.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202604.13.0.txt"),
			ref(u2404, "202604.24.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202604.24.0.txt"),
		}},
		{"2026-01-04", "the Azure Linux 2.0 note is linked twice, first in prose", []tracker.AKSImageRef{
			ref(al2, "202512.06.0", "vhd-notes/AzureLinux/202512.06.0.txt"),
			ref(al3, "202512.06.0", "vhd-notes/AzureLinuxv3/202512.06.0.txt"),
			ref(u2204, "202512.06.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202512.06.0.txt"),
			ref(u2404, "202512.06.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202512.06.0.txt"),
			ref(ws19, "17763.8146.251212", "vhd-notes/AKSWindows/2019/17763.8146.251212.txt"),
			ref(ws22, "20348.4529.251212", "vhd-notes/AKSWindows/2022/20348.4529.251212.txt"),
			ref(ws23, "25398.2025.251212", "vhd-notes/AKSWindows/23H2/25398.2025.251212.txt"),
			ref(ws25, "26100.7462.251212", "vhd-notes/AKSWindows/2025/26100.7462.251212.txt"),
		}},
		{"2025-08-29", "image-list json links beside the notes", []tracker.AKSImageRef{
			ref(ws19, "17763.7678.250823", "vhd-notes/AKSWindows/2019/17763.7678.250823.txt"),
			ref(ws22, "20348.4052.250823", "vhd-notes/AKSWindows/2022/20348.4052.250823.txt"),
			ref(ws23, "25398.1791.250823", "vhd-notes/AKSWindows/23H2/25398.1791.250823.txt"),
			ref(ws25, "26100.4946.250823", "vhd-notes/AKSWindows/2025/26100.4946.250823.txt"),
			ref(al2, "202508.20.0", "vhd-notes/AzureLinux/202508.20.0.txt"),
			ref(al3, "202508.20.0", "vhd-notes/AzureLinuxv3/202508.20.0.txt"),
			ref(u2204, "202508.20.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202508.20.0.txt"),
			ref(u2404, "202508.20.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202508.20.0.txt"),
		}},
		{"2025-06-17", "backticked versions", []tracker.AKSImageRef{
			ref(ws19, "17763.7314.250518", "vhd-notes/AKSWindows/2019/17763.7314.250518.txt"),
			ref(ws22, "20348.3692.250518", "vhd-notes/AKSWindows/2022/20348.3692.250518.txt"),
			ref(ws23, "25398.1611.250518", "vhd-notes/AKSWindows/23H2/25398.1611.250518.txt"),
			ref(al2, "202506.12.0", "vhd-notes/AzureLinux/202506.12.0.txt"),
			ref(al3, "202506.12.0", "vhd-notes/AzureLinuxv3/202506.12.0.txt"),
			ref(u2204, "202506.12.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202506.12.0.txt"),
			ref(u2404, "202506.12.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202506.12.0.txt"),
		}},
		{"2025-01-30", "Azurelinuxv3 with a lower-case l; family-prefixed Windows versions", []tracker.AKSImageRef{
			ref(ws19, "17763.6775.250117", "vhd-notes/AKSWindows/2019/17763.6775.250117.txt"),
			ref(ws22, "20348.3091.250117", "vhd-notes/AKSWindows/2022/20348.3091.250117.txt"),
			ref(ws23, "25398.1369.250117", "vhd-notes/AKSWindows/23H2/25398.1369.250117.txt"),
			ref(al2, "202501.28.0", "vhd-notes/AzureLinux/202501.28.0.txt"),
			ref(al3, "202501.28.0", "vhd-notes/Azurelinuxv3/202501.28.0.txt"),
			ref(u2204, "202501.28.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202501.28.0.txt"),
			ref(u2404, "202501.28.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/202501.28.0.txt"),
		}},
		{"2024-10-25", "link text and target disagree; an Ubuntu path without a release", []tracker.AKSImageRef{
			ref(ws19, "17763.6414.241010", "vhd-notes/AKSWindows/2019/17763.6414.241010.txt"),
			ref(ws22, "20348.2700.240911", "vhd-notes/AKSWindows/2022/20348.2700.240911.txt"),
			ref(al2, "202410.27.0", "vhd-notes/AzureLinux/202410.27.0.txt"),
			ref("Ubuntu", "202410.27.0", "vhd-notes/aks-ubuntu/202410.27.0.txt"),
		}},
		{"2024-04-28", "a 2019 image filed under AKSWindows/2022", []tracker.AKSImageRef{
			ref(ws19, "17763.5696.240423", "vhd-notes/AKSWindows/2022/17763.5696.240423.txt"),
			ref(ws22, "20348.2402.240423", "vhd-notes/AKSWindows/2022/20348.2402.240423.txt"),
			ref(al2, "202404.16.0", "vhd-notes/AzureLinux/202404.16.0.txt"),
			ref(u2204, "202404.16.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202404.16.0.txt"),
		}},
		{"2024-04-11", "two links on a line, one whose text names another version", []tracker.AKSImageRef{
			ref(ws19, "17763.5696.240410", "vhd-notes/AKSWindows/2019/17763.5696.240410.txt"),
			ref(ws19, "17763.5576.240401", "vhd-notes/AKSWindows/2019/17763.5576.240401.txt"),
			ref(ws22, "20348.2402.240410", "vhd-notes/AKSWindows/2022/20348.2402.240410.txt"),
			ref(ws22, "20348.2340.240401", "vhd-notes/AKSWindows/2022/20348.2340.240401.txt"),
			ref(al2, "202404.01.0", "vhd-notes/AzureLinux/202404.01.0.txt"),
			ref(u2204, "202404.01.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202404.01.0.txt"),
		}},
		{"2024-01-08", "absolute links into the AKS repository", []tracker.AKSImageRef{
			ref(ws19, "17763.5206.231213", "https://github.com/Azure/AKS/blob/2024-01-08/vhd-notes/AKSWindows/2019/17763.5206.231213.txt"),
			ref(ws22, "20348.2159.231213", "https://github.com/Azure/AKS/blob/2024-01-08/vhd-notes/AKSWindows/2022/20348.2159.231213.txt"),
			ref(al2, "202401.03.0", "vhd-notes/AzureLinux/202401.03.0.txt"),
			ref(u2204, "202401.03.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202401.03.0.txt"),
		}},
		{"2023-05-21", "Mariner; Ubuntu 18.04 in the new version format", []tracker.AKSImageRef{
			ref("Mariner", "202305.15.0", "vhd-notes/AKSMariner/202305.15.0.txt"),
			ref(u1804, "202305.15.0", "vhd-notes/aks-ubuntu/AKSUbuntu-1804/202305.15.0.txt"),
			ref(u2204, "202305.15.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/202305.15.0.txt"),
		}},
		{"2022-11-27", "WS2019 and WS2022 linked on one line; legacy Linux versions", []tracker.AKSImageRef{
			ref(ws19, "17763.3650.221110", "vhd-notes/AKSWindows/2019/17763.3650.221110.txt"),
			ref(ws22, "20348.1249.221110", "vhd-notes/AKSWindows/2022/20348.1249.221110.txt"),
			ref(u1804, "2022.11.12", "vhd-notes/aks-ubuntu/AKSUbuntu-1804/2022.11.12.txt"),
			ref(u2204, "2022.11.12", "vhd-notes/aks-ubuntu/AKSUbuntu-2204/2022.11.12.txt"),
			ref("Mariner", "2022.11.12", "vhd-notes/AKSMariner/2022.11.12.txt"),
		}},
		{"2022-03-27", "an absolute link into AgentBaker", []tracker.AKSImageRef{
			ref(u1804, "2022.03.20", "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/AKSUbuntu/gen1/1804/2022.03.20.txt"),
			ref(u1804, "2022.03.23", "vhd-notes/aks-ubuntu/AKSUbuntu-1804/2022.03.23.txt"),
		}},
		{"2021-05-20", "a target missing the dot before txt; smalldisk Windows name", []tracker.AKSImageRef{
			ref(u1604, "2021.05.19", "vhd-notes/aks-ubuntu/AKSUbuntu-1604/2021.05.19txt"),
			ref(u1804, "2021.05.19", "vhd-notes/aks-ubuntu/AKSUbuntu-1804/2021.05.19.txt"),
			ref(ws19, "17763.1911.210513", "vhd-notes/AKSWindows/2019/17763.1911.210513.txt"),
		}},
		{"2020-03-09", "an absolute link into aks-engine", []tracker.AKSImageRef{
			ref(u1604, "2020.03.05", "vhd-notes/aks-ubuntu/AKSUbuntu-1604/2020.03.05.txt"),
			ref(u1804, "2020.03.05", "vhd-notes/aks-ubuntu/AKSUbuntu-1804/2020.03.05.txt"),
			ref(ws19, "17763.973.200213", "https://github.com/Azure/aks-engine/blob/master/vhd/release-notes/aks-windows/2019-datacenter-core-smalldisk-17763.973.200213.txt"),
		}},
		{"2020-02-10", "an autolink into aks-engine after a bare version", []tracker.AKSImageRef{
			ref(ws19, "17763.864.191211", "https://github.com/Azure/aks-engine/blob/master/vhd/release-notes/aks-windows/2019-datacenter-core-smalldisk-17763.864.191211.txt"),
		}},
		{"2020-01-27", "a family-prefixed legacy name in a fork of aks-engine", []tracker.AKSImageRef{
			ref(u1604, "2020.01.10", "https://github.com/jackfrancis/aks-engine/blob/1de1ad55f86e863952081f0a6fbf85910d02e9d7/releases/vhd-notes/aks-ubuntu-1604/aks-ubuntu-1604-202001_2020.01.10.txt"),
		}},
		{"2019-01-31", "the oldest release names no image", []tracker.AKSImageRef{}},
	}
	bodies := make(map[string]string)
	for _, r := range readReleases(t, "world-2026-05-31") {
		bodies[r.Tag] = r.Body
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			body, ok := bodies[tt.tag]
			if !ok {
				t.Fatalf("no release %s in world-2026-05-31", tt.tag)
			}
			got := aksnotes.ParseBody(body)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s (%s):\n got %v\nwant %v", tt.tag, tt.why, got, tt.want)
			}
		})
	}
}

// The releases name none of the families nodewatch watches by default, nor a path that
// leaves the OS to the prose around it; these links do, with versions from the fixtures.
func TestParseBody_osLabel(t *testing.T) {
	const agentBaker = "https://github.com/Azure/AgentBaker/blob/master/vhdbuilder/release-notes/"
	tests := []struct {
		line string
		want tracker.AKSImageRef
	}{
		{"* [202605.27.0](" + agentBaker + "AKSFlatcar/gen2/202605.27.0.txt)",
			ref("Flatcar", "202605.27.0", agentBaker+"AKSFlatcar/gen2/202605.27.0.txt")},
		{"* [202605.05.1](" + agentBaker + "AKSAzureContainerLinux/gen2tl/202605.05.1.txt)",
			ref("Azure Container Linux", "202605.05.1", agentBaker+"AKSAzureContainerLinux/gen2tl/202605.05.1.txt")},
		{"* [202605.27.0](" + agentBaker + "AKSUbuntu/gen2/2404containerd/202605.27.0.txt)",
			ref("Ubuntu 24.04", "202605.27.0", agentBaker+"AKSUbuntu/gen2/2404containerd/202605.27.0.txt")},
		{"* [2023.01.10](" + agentBaker + "AKSUbuntu/gen2/2204containerd/2023.01.10.txt)",
			ref("Ubuntu 22.04", "2023.01.10", agentBaker+"AKSUbuntu/gen2/2204containerd/2023.01.10.txt")},
		{"* [202605.27.0](" + agentBaker + "AKSAzureLinuxV3/gen2/202605.27.0.txt)",
			ref("Azure Linux 3.0", "202605.27.0", agentBaker+"AKSAzureLinuxV3/gen2/202605.27.0.txt")},
		{"* [26100.7171.251116](" + agentBaker + "AKSWindows/2025-gen2/26100.7171.251116.txt)",
			ref("Windows Server 2025", "26100.7171.251116", agentBaker+"AKSWindows/2025-gen2/26100.7171.251116.txt")},
		{"* Windows build unknown to nodewatch: [14393.7000.250101](vhd-notes/AKSWindows/2016/14393.7000.250101.txt)",
			ref("Windows Server 2016", "14393.7000.250101", "vhd-notes/AKSWindows/2016/14393.7000.250101.txt")},
		{"* Ubuntu 24.04 - [202605.27.0](notes/202605.27.0.txt)",
			ref("Ubuntu 24.04", "202605.27.0", "notes/202605.27.0.txt")},
		{"* AKS Azure Linux v3 image has been updated to [202605.27.0](notes/202605.27.0.txt)",
			ref("Azure Linux 3.0", "202605.27.0", "notes/202605.27.0.txt")},
		{"* Azure Linux image has been updated to [202605.27.0](notes/202605.27.0.txt)",
			ref("Azure Linux", "202605.27.0", "notes/202605.27.0.txt")},
		{"* Something new - [202605.27.0](vhd-notes/SomethingNew/202605.27.0.txt)",
			ref("SomethingNew", "202605.27.0", "vhd-notes/SomethingNew/202605.27.0.txt")},
		{"* [202605.27.0](202605.27.0.txt)",
			ref("unknown", "202605.27.0", "202605.27.0.txt")},
		{"* the version only in the link text: [AKSUbuntu-2404-202605.27.0](vhd-notes/aks-ubuntu/AKSUbuntu-2404/latest.txt)",
			ref("Ubuntu 24.04", "202605.27.0", "vhd-notes/aks-ubuntu/AKSUbuntu-2404/latest.txt")},
	}
	for _, tt := range tests {
		t.Run(tt.want.OS, func(t *testing.T) {
			got := aksnotes.ParseBody(tt.line)
			if want := []tracker.AKSImageRef{tt.want}; !slices.Equal(got, want) {
				t.Errorf("%s:\n got %v\nwant %v", tt.line, got, want)
			}
		})
	}
}

// notesLinkRE is the tests' own idea of a link to a notes file: an inline link or an
// autolink whose target ends in a version-shaped name and txt.
var notesLinkRE = regexp.MustCompile(`(?:\]\(|<)([^()<>\s]*?(?:\d{6}\.\d{2}\.\d+|\d{4}\.\d{2}\.\d{2}|\d{5}\.\d+\.\d{6})\.?txt)[)>]`)

var knownOS = []string{
	"Ubuntu", "Ubuntu 16.04", "Ubuntu 18.04", "Ubuntu 22.04", "Ubuntu 24.04",
	"Azure Linux 2.0", "Azure Linux 3.0", "Mariner",
	"Windows Server 2019", "Windows Server 2022", "Windows Server 23H2", "Windows Server 2025",
}

func TestParseBody_everyNotesLink(t *testing.T) {
	total := 0
	for _, r := range readReleases(t, "world-2026-05-31") {
		var want []string
		for _, m := range notesLinkRE.FindAllStringSubmatch(r.Body, -1) {
			if !slices.Contains(want, m[1]) {
				want = append(want, m[1])
			}
		}
		total += len(want)
		got := aksnotes.ParseBody(r.Body)
		if len(got) != len(want) {
			t.Errorf("%s: %d images, want %d links to notes %v", r.Tag, len(got), len(want), want)
		}
		for _, path := range want {
			if !slices.ContainsFunc(got, func(ref tracker.AKSImageRef) bool { return ref.NotesPath == path }) {
				t.Errorf("%s: notes link %s not returned", r.Tag, path)
			}
		}
		for _, ref := range got {
			if strings.HasSuffix(ref.NotesPath, ".json") {
				t.Errorf("%s: image list %s returned as an image", r.Tag, ref.NotesPath)
			}
			if !slices.Contains(knownOS, ref.OS) {
				t.Errorf("%s: %s has OS %q, not one of %q", r.Tag, ref.NotesPath, ref.OS, knownOS)
			}
			if _, err := tracker.ParseImageVersion(ref.Version); err != nil {
				t.Errorf("%s: %v", r.Tag, err)
			}
		}
	}
	if total == 0 {
		t.Fatal("no notes links in world-2026-05-31: the fixture or the test's pattern is wrong")
	}
}

func TestParseBody_hostile(t *testing.T) {
	const link = "[202603.18.1](vhd-notes/AzureLinuxv3/202603.18.1.txt)"
	azl3 := []tracker.AKSImageRef{ref("Azure Linux 3.0", "202603.18.1", "vhd-notes/AzureLinuxv3/202603.18.1.txt")}
	const fiveMB = 5 << 20
	tests := []struct {
		name string
		body string
		want []tracker.AKSImageRef
	}{
		{"5 MB line, link at the end", strings.Repeat("a", fiveMB) + " " + link, azl3},
		{"5 MB line of the same link", strings.Repeat(link+" ", fiveMB/len(link)), azl3},
		{"5 MB line of link openings", strings.Repeat("](", fiveMB/2), []tracker.AKSImageRef{}},
		{"5 MB line of unclosed links", strings.Repeat("[1](vhd-notes/2.txt", fiveMB/19), []tracker.AKSImageRef{}},
		{"5 MB target", "[202603.18.1](" + strings.Repeat("a/", fiveMB/2) + "202603.18.1.txt)", []tracker.AKSImageRef{}},
		{"Slack mentions around a link", "<!channel> @user <@U0123> see " + link + " <!here>", azl3},
		{"mention inside the target", "[202603.18.1](<!channel>/202603.18.1.txt)", []tracker.AKSImageRef{}},
		{"unclosed bracket then a link", "[[[ ((( ]] [x " + link, azl3},
		{"unclosed target", "[202603.18.1](vhd-notes/AzureLinuxv3/202603.18.1.txt", []tracker.AKSImageRef{}},
		{"no closing bracket before the target", "[202603.18.1(vhd-notes/AzureLinuxv3/202603.18.1.txt)", []tracker.AKSImageRef{}},
		{"no such day", "[202602.30.0](vhd-notes/AzureLinuxv3/202602.30.0.txt)", []tracker.AKSImageRef{}},
		{"upstream's stray 20230501.0", "[20230501.0](vhd-notes/AzureLinuxv3/20230501.0.txt)", []tracker.AKSImageRef{}},
		{"bare version in prose", "node image 202603.18.1 is out", []tracker.AKSImageRef{}},
		{"empty", "", []tracker.AKSImageRef{}},
		{"invalid UTF-8", "\xff\xfe[202603.18.1](vhd-notes/AzureLinuxv3/202603.18.1.txt)\xff", azl3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := aksnotes.ParseBody(tt.body); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseBody(f *testing.F) {
	for _, r := range readReleases(f, "world-2026-05-31") {
		f.Add(r.Body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		refs := aksnotes.ParseBody(body)
		seen := make(map[tracker.AKSImageRef]bool)
		for _, ref := range refs {
			if ref.OS == "" || seen[ref] {
				t.Errorf("empty OS or duplicate: %+v", ref)
			}
			seen[ref] = true
			if _, err := tracker.ParseImageVersion(ref.Version); err != nil {
				t.Error(err)
			}
			if ref.NotesPath == "" || !strings.Contains(body, ref.NotesPath) || strings.ContainsAny(ref.NotesPath, "<> \n") {
				t.Errorf("notes path %q is not a link target of the body", ref.NotesPath)
			}
		}
	})
}

func BenchmarkParseBody(b *testing.B) {
	rs := readReleases(b, "world-2026-05-31")
	var size int64
	for _, r := range rs {
		size += int64(len(r.Body))
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, r := range rs {
			aksnotes.ParseBody(r.Body)
		}
	}
}
