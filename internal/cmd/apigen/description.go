package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// description is the part of an .api.json file apigen uses.
type description struct {
	Metadata struct {
		APIVersion       string `json:"apiVersion"`
		ServiceShortName string `json:"serviceShortName"`
	} `json:"metadata"`
	Actions map[string]actionDesc `json:"actions"`
	Objects map[string]objectDesc `json:"objects"`
}

type actionDesc struct {
	Name     string `json:"name"`
	Document string `json:"document"`
	Input    string `json:"input"`
	Output   string `json:"output"`
	Status   string `json:"status"`
}

type objectDesc struct {
	Document string       `json:"document"`
	Members  []memberDesc `json:"members"`
}

type memberDesc struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Member   string `json:"member"`
	Document string `json:"document"`
	Required bool   `json:"required"`
	Disabled bool   `json:"disabled"`
}

func readDescription(path string) (*description, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDescription(data)
}

func parseDescription(data []byte) (*description, error) {
	var d description
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse description: %w", err)
	}
	if d.Metadata.ServiceShortName == "" || d.Metadata.APIVersion == "" {
		return nil, fmt.Errorf("parse description: metadata lacks serviceShortName or apiVersion")
	}
	if len(d.Actions) == 0 {
		return nil, fmt.Errorf("parse description: no actions")
	}
	return &d, nil
}
