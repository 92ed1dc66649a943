package firmware

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/lawfleet/fleet/fleet"
)

// memStore is an in-memory Store for the engine's tests (the SQL store is
// tested against the real databases in firmware/sqlfirmware).
type memStore struct {
	mu        sync.Mutex
	images    map[string]Image
	campaigns map[string]Campaign
	jobs      map[string]Job
}

func newMemStore() *memStore {
	return &memStore{images: map[string]Image{}, campaigns: map[string]Campaign{}, jobs: map[string]Job{}}
}

func notFound(what string) error { return fleet.Errorf(fleet.ENOTFOUND, "%s not found", what) }

func (s *memStore) CreateImage(_ context.Context, img Image) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.images {
		if o.Model == img.Model && o.Version == img.Version {
			return fleet.Errorf(fleet.ECONFLICT, "duplicate")
		}
	}
	s.images[img.ID] = img
	return nil
}

func (s *memStore) Image(_ context.Context, id string) (Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	if !ok {
		return Image{}, notFound("image")
	}
	return img, nil
}

func (s *memStore) Images(_ context.Context, model string, _ fleet.Page) ([]Image, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Image
	for _, img := range s.images {
		if model == "" || img.Model == model {
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(b.ID, a.ID) })
	return out, "", nil
}

func (s *memStore) CreateCampaign(_ context.Context, c Campaign, jobs []Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.campaigns[c.ID] = c
	for _, j := range jobs {
		s.jobs[j.ID] = j
	}
	return nil
}

func (s *memStore) Campaign(_ context.Context, id string) (Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns[id]
	if !ok {
		return Campaign{}, notFound("campaign")
	}
	return c, nil
}

func (s *memStore) Campaigns(_ context.Context, scope string, _ fleet.Page) ([]Campaign, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Campaign
	for _, c := range s.campaigns {
		if fleet.PathContains(scope, c.UnitPath) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Campaign) int { return strings.Compare(b.ID, a.ID) })
	return out, "", nil
}

func (s *memStore) ActiveCampaigns(_ context.Context) ([]Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Campaign
	for _, c := range s.campaigns {
		if c.State.active() {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Campaign) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *memStore) UpdateCampaign(_ context.Context, c Campaign) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.campaigns[c.ID]
	if !ok {
		return notFound("campaign")
	}
	if old.Version != c.Version {
		return fleet.Errorf(fleet.ECONFLICT, "campaign changed meanwhile")
	}
	c.Version++
	s.campaigns[c.ID] = c
	return nil
}

func (s *memStore) Job(_ context.Context, id string) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, notFound("job")
	}
	return j, nil
}

func (s *memStore) Jobs(_ context.Context, campaignID string) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Job
	for _, j := range s.jobs {
		if j.CampaignID == campaignID {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b Job) int { return cmp.Or(cmp.Compare(a.Wave, b.Wave), strings.Compare(a.ID, b.ID)) })
	return out, nil
}

func (s *memStore) DeviceJobs(_ context.Context, deviceID string) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Job
	for _, j := range s.jobs {
		if j.DeviceID == deviceID && j.State.inFlight() {
			out = append(out, j)
		}
	}
	return out, nil
}

func (s *memStore) UpdateJob(_ context.Context, j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; !ok {
		return notFound("job")
	}
	s.jobs[j.ID] = j
	return nil
}
