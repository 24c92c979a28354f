package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/web"
)

// TestPageSaysWhatAFlatcarFamilyLacks: a Flatcar family left behind while alpha ships
// (the May snapshot without the arm64 family's three May notes) is marked on the page
// with the number of fixes its newest image lacks, as images counts them; a family on
// the newest alpha is not.
func TestPageSaysWhatAFlatcarFamilyLacks(t *testing.T) {
	r := trackertest.NewRig(t, "2026-05-31", tracker.FirstRunSilent)
	r.LeaveBehind()
	r.Cycle(t)
	h := web.New(web.Options{Store: r.DB})
	var views []tracker.ImageView
	if err := json.Unmarshal(get(t, h, "/api/v1/images?family=AKSFlatcar/gen2arm64").Body.Bytes(), &views); err != nil {
		t.Fatal(err)
	}
	newest := views[len(views)-1]
	if newest.Security == nil || newest.Security.Missing == 0 {
		t.Fatalf("the arm64 family's newest image %s lacks nothing: %+v", newest.Version, newest.Security)
	}
	page := get(t, h, "/").Body.String()
	want := fmt.Sprintf("lacks %d fixes</span> that later alpha Flatcar releases announce", newest.Security.Missing)
	if strings.Count(page, "lacks ") != 1 || !strings.Contains(page, want) {
		t.Errorf("the page does not say %q once", want)
	}
}
