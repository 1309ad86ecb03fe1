-- A stand-in for Prosody's mod_auth_external_insecure, for authpool's
-- integration tests: it drives a helper through the real lpty exactly as
-- that module does, so that authpool connect meets the same pty, the same
-- timeout and the same reads as under Prosody. Written for these tests
-- from the module's observed behaviour; not the module's code.
--
--   lua5.4 prosody-external.lua COMMAND TIMEOUT_SECONDS
--
-- What the module does, and so this does:
--   * one lpty per helper, made with no_local_echo (ECHO and ICANON are
--     cleared in the child after fork, racing the first request),
--     use_path = false, throw_errors = false;
--   * the command is passed whole to startproc: a single file name;
--   * a helper that is gone is started again only if it exited with
--     status 0 (otherwise the module gives up on it);
--   * each query is written at once, and the answer is whatever ONE read
--     with the timeout returns: a trailing "\r?\n" is dropped, then "1" is
--     yes, "0" is no, anything else cannot be interpreted.
--
-- Control, one line per command on stdin, one result line on stdout:
--   q REQUEST   ask REQUEST (without its "\n"); prints "yes", "no",
--               "timeout", "dead" or "unreadable N" (N bytes read)
--   restart     end the helper; the next query starts a new one
--   quit        end the helper and exit

local lpty = require "lpty"

local command = assert(arg[1], "usage: prosody-external.lua COMMAND TIMEOUT")
local timeout = assert(tonumber(arg[2]), "usage: prosody-external.lua COMMAND TIMEOUT")

local pty = lpty.new({ throw_errors = false, no_local_echo = true, use_path = false })

local function query(text)
	if not pty:hasproc() then
		local status, ret = pty:exitstatus()
		if status and (status ~= "exit" or ret ~= 0) then
			return "dead"
		end
		if not pty:startproc(command) then
			return "dead"
		end
	end
	pty:send(text .. "\n")
	local response = pty:read(timeout)
	if not response then
		return "timeout"
	end
	local answer = response:gsub("\r?\n$", "")
	if answer == "1" then
		return "yes"
	elseif answer == "0" then
		return "no"
	end
	return "unreadable " .. #response
end

for line in io.lines() do
	local cmd, rest = line:match("^(%S+) ?(.*)$")
	if cmd == "q" then
		io.write(query(rest), "\n")
	elseif cmd == "restart" then
		pty:endproc()
		pty = lpty.new({ throw_errors = false, no_local_echo = true, use_path = false })
		io.write("ok\n")
	elseif cmd == "quit" then
		break
	else
		io.write("bad command\n")
	end
	io.flush()
end
pty:endproc()
