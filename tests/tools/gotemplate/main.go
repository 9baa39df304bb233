// Renders an Ollama chat template with Go's text/template, fed Ollama-shaped values: the shape of
// Ollama's template.Values (Messages with Role, Content, ToolCalls; Tools), whose tool functions and
// call arguments print as JSON the way Ollama's api types do (encoding/json). Reads
// {"template", "messages", "tools"} as JSON on stdin; writes the rendered prompt to stdout.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/template"
)

type JSONObject map[string]any

func (o JSONObject) String() string {
	b, err := json.Marshal(map[string]any(o))
	if err != nil {
		panic(err)
	}
	return string(b)
}

type ToolCallFunction struct {
	Name      string     `json:"name"`
	Arguments JSONObject `json:"arguments"`
}

type ToolCall struct {
	Function ToolCallFunction `json:"function"`
}

type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls"`
	ToolName  string     `json:"tool_name"`
}

type Tool struct {
	Type     string     `json:"type"`
	Function JSONObject `json:"function"`
}

type Values struct {
	Messages []Message
	Tools    []Tool
	System   string
	Prompt   string
	Response string
}

type input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
	Tools    []Tool    `json:"tools"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "input:", err)
		os.Exit(2)
	}
	tmpl, err := template.New("ollama").Parse(in.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse:", err)
		os.Exit(3)
	}
	if err := tmpl.Execute(os.Stdout, Values{Messages: in.Messages, Tools: in.Tools}); err != nil {
		fmt.Fprintln(os.Stderr, "execute:", err)
		os.Exit(4)
	}
}
