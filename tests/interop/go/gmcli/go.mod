module micro.test/interop/gmcli

go 1.18
