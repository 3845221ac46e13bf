// Command pot-luahealth runs one Argo CD resource health check the way Argo CD runs a custom
// check from argocd-cm, so POT's tests (tests/charts) exercise the Lua scripts faithfully.
//
//	pot-luahealth SCRIPT.lua < object.json   # prints {"status": ..., "message": ...}
//
// Argo CD (util/lua/lua.go) starts gopher-lua with SkipOpenLibs for argocd-cm scripts (unless
// useOpenLibs is set) and opens only package, base, table and a "safe" os holding time and date;
// string, math, io and debug are absent, so a script that calls string.find works in a plain
// Lua but fails in Argo CD. It also sets the object as the global `obj` and stops a script
// after one second. This harness does the same and exits non-zero on any script error.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// scriptTimeout matches Argo CD: a health check that loops is cut off, not waited for.
const scriptTimeout = time.Second

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pot-luahealth SCRIPT.lua < object.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var obj any
	if err := json.Unmarshal(input, &obj); err != nil {
		fail(fmt.Errorf("object on stdin is not JSON: %w", err))
	}
	result, err := run(string(script), obj)
	if err != nil {
		fail(err)
	}
	out, err := json.Marshal(result)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pot-luahealth:", err)
	os.Exit(1)
}

func run(script string, obj any) (any, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	// `local os = require("os")` must work too, and give the same restricted table.
	L.PreloadModule(lua.OsLibName, func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), safeOsFuncs))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	if ret.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	return fromLua(ret), nil
}

var safeOsFuncs = map[string]lua.LGFunction{"time": osTime, "date": osDate}

func openSafeOs(L *lua.LState) int {
	L.Push(L.RegisterModule(lua.OsLibName, safeOsFuncs))
	return 1
}

// osTime supports the call health checks use: os.time() for "now" in Unix seconds.
func osTime(L *lua.LState) int {
	if L.GetTop() != 0 {
		L.RaiseError("pot-luahealth: os.time with arguments is not supported by this harness")
	}
	L.Push(lua.LNumber(time.Now().Unix()))
	return 1
}

// osDate supports "!*t" and "*t" (a table of the current UTC or local time); other formats are
// rejected loudly rather than approximated, so a script never passes here and differs in Argo CD.
func osDate(L *lua.LState) int {
	format := L.OptString(1, "%c")
	t := time.Now()
	switch format {
	case "!*t":
		t = t.UTC()
	case "*t":
	default:
		L.RaiseError("pot-luahealth: os.date(%q) is not supported by this harness", format)
	}
	tbl := L.NewTable()
	for k, v := range map[string]int{
		"year": t.Year(), "month": int(t.Month()), "day": t.Day(),
		"hour": t.Hour(), "min": t.Minute(), "sec": t.Second(), "wday": int(t.Weekday()) + 1,
	} {
		tbl.RawSetString(k, lua.LNumber(v))
	}
	L.Push(tbl)
	return 1
}

// toLua converts decoded JSON the way Argo CD hands an object to a script: numbers as Lua
// numbers, arrays as 1-based sequences, null as nil.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(L, item))
		}
		return t
	default:
		return lua.LNil
	}
}

// fromLua turns the returned table into JSON-ready values; a table with only string keys is an
// object, anything else a list of its sequence part.
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LNumber:
		return float64(x)
	case lua.LString:
		return string(x)
	case *lua.LTable:
		if x.Len() > 0 {
			list := make([]any, 0, x.Len())
			for i := 1; i <= x.Len(); i++ {
				list = append(list, fromLua(x.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		x.ForEach(func(k, val lua.LValue) {
			m[k.String()] = fromLua(val)
		})
		return m
	default:
		return nil
	}
}
