// The Argo CD health-check harness for POT's tests: gopher-lua with Argo CD's library set.
module pot.dev/tools/luahealth

go 1.24

require github.com/yuin/gopher-lua v1.1.2
