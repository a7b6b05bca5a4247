-- qasm-tracker.lua: Wireshark / tshark dissector for the QASM tracker
-- protocol (docs/PROTOCOL.md, version 3, and versions 2 and 1 for older
-- recordings): agent reports over UDP, and the middlebox / qasm-trackctl
-- sessions over TCP, on port 4790 (the default tracker port) and, by
-- heuristic, on any UDP port (magic "QT", version 1 to 3, length = datagram
-- length). A report of version 2 or 3 ends with the connection's secret
-- (OPEN, REFRESH), its MAC and the key MAC (under the tracker's shared key,
-- when the agent has it); version 3 sessions start with the key handshake
-- (HELLO, CHALLENGE, AUTH: nonces and proofs) when the tracker has a key.
-- The dissector shows MACs and proofs; it cannot check them.
--
--   tshark -X lua_script:captures/qasm-tracker.lua -r capture.pcap -Y qasmt
--   wireshark -X lua_script:captures/qasm-tracker.lua capture.pcap
-- or copy it into ~/.local/lib/wireshark/plugins/.
--
-- Display filter fields: qasmt.type, qasmt.req_id, qasmt.odcid, qasmt.client0,
-- qasmt.client, qasmt.seq, qasmt.scid, qasmt.server, qasmt.dcid, qasmt.cid_seq,
-- qasmt.wait_ms, qasmt.cid, qasmt.event, qasmt.rev, qasmt.secret, qasmt.mac,
-- qasmt.key_mac, qasmt.nonce, qasmt.proof, ... (see the list below).

local qasmt = Proto("qasmt", "QASM Tracker Protocol")

local PORT = 4790
local HDR_LEN = 12
local MAX_MSG = 4096

local types = {
    [0x01] = "REPORT_OPEN", [0x02] = "REPORT_DCID_NEW", [0x03] = "REPORT_DCID_RETIRE",
    [0x04] = "REPORT_ADDR", [0x05] = "REPORT_CLOSE", [0x06] = "REPORT_REFRESH",
    [0x10] = "QUERY", [0x11] = "SUBSCRIBE", [0x12] = "UNSUBSCRIBE", [0x13] = "DUMP",
    [0x14] = "STATS", [0x15] = "HELLO", [0x16] = "AUTH", [0x20] = "RECORD",
    [0x21] = "NOT_FOUND", [0x22] = "PUSH", [0x23] = "OK", [0x24] = "ERROR",
    [0x25] = "STATS_REPLY", [0x26] = "CHALLENGE",
}
local events = {
    [1] = "opened", [2] = "dcid_new", [3] = "dcid_retire", [4] = "addr", [5] = "refresh",
    [6] = "closed", [7] = "expired", [8] = "evicted",
}
local errcodes = {
    [1] = "unsupported version", [2] = "unknown or unexpected type", [3] = "malformed body",
    [4] = "limit reached", [5] = "internal", [6] = "key required or authentication failed",
}

-- Each field once: its name (filter qasmt.NAME), ProtoField type, label, and the
-- type's optional display base and value names.
local f = {}
for _, d in ipairs({
    { "magic", "string", "Magic" },
    { "version", "uint8", "Version" },
    { "type", "uint8", "Type", base.HEX, types },
    { "type_name", "string", "Type name" },
    { "length", "uint16", "Length" },
    { "flags", "uint16", "Flags", base.HEX },
    { "req_id", "uint32", "Request ID" },
    { "odcid", "bytes", "Original DCID", base.NONE },
    { "client0", "string", "First client address" },
    { "client", "string", "Client address" },
    { "seq", "uint32", "Report sequence" },
    { "scid", "bytes", "Client SCID", base.NONE },
    { "server", "string", "Server address" },
    { "dcid", "bytes", "DCID", base.NONE },
    { "cid_seq", "uint64", "CID sequence number" },
    { "wait_ms", "uint32", "Wait (ms)" },
    { "sub_flags", "uint8", "Subscribe flags", base.HEX },
    { "cid", "bytes", "CID", base.NONE },
    { "rev", "uint32", "Revision" },
    { "dcid_len", "uint8", "DCID length" },
    { "rec_flags", "uint8", "Record flags", base.HEX },
    { "current", "uint8", "Current client index" },
    { "ndcids", "uint8", "DCIDs" },
    { "nclients", "uint8", "Client addresses" },
    { "event", "uint8", "Event", base.DEC, events },
    { "count", "uint32", "Count" },
    { "err_code", "uint16", "Error code", base.DEC, errcodes },
    { "err_text", "string", "Error text" },
    { "stat_name", "string", "Counter" },
    { "stat_value", "uint64", "Value" },
    { "secret", "bytes", "Connection secret", base.NONE },
    { "mac", "bytes", "MAC (connection secret)", base.NONE },
    { "key_mac", "bytes", "MAC (shared key)", base.NONE },
    { "nonce", "bytes", "Handshake nonce", base.NONE },
    { "proof", "bytes", "Proof of the key", base.NONE },
}) do
    f[d[1]] = ProtoField[d[2]]("qasmt." .. d[1], d[3], d[4], d[5])
end
qasmt.fields = f

local ef_malformed = ProtoExpert.new("qasmt.malformed", "Malformed QASM tracker message",
                                     expert.group.MALFORMED, expert.severity.ERROR)
qasmt.experts = { ef_malformed }

-- A reader over one message that raises "malformed" instead of reading past its end.
local function reader(tvb, tree, off, stop)
    local r = { off = off }
    local function need(n)
        if r.off + n > stop then error("malformed") end
    end
    -- An n-byte big-endian integer (a UInt64 when n is 8), added to the tree as |field|.
    local function int(n, field, t)
        need(n)
        local range = tvb(r.off, n)
        local v = n == 8 and range:uint64() or range:uint()
        if field then (t or tree):add(field, range) end
        r.off = r.off + n
        return v
    end
    function r.u8(field, t) return int(1, field, t) end
    function r.u16(field, t) return int(2, field, t) end
    function r.u32(field, t) return int(4, field, t) end
    function r.u64(field, t) return int(8, field, t) end
    function r.cid(field, t)
        need(1)
        local n = tvb(r.off, 1):uint()
        if n > 20 then error("malformed") end
        need(1 + n)
        local hex = n > 0 and tostring(tvb(r.off + 1, n):bytes()):lower() or ""
        if n > 0 then
            (t or tree):add(field, tvb(r.off + 1, n))
        else
            (t or tree):add(tvb(r.off, 1), "Zero-length CID")
        end
        r.off = r.off + 1 + n
        return hex
    end
    function r.varint(field, t)
        need(1)
        local b = tvb(r.off, 1):uint()
        local n = 2 ^ math.floor(b / 64)
        need(n)
        local v = UInt64(b % 64)
        for i = 1, n - 1 do
            v = v * 256 + tvb(r.off + i, 1):uint()
        end
        if field then (t or tree):add(field, tvb(r.off, n), v) end
        r.off = r.off + n
        return v
    end
    -- ADDR: family 0 (none), 4 (port, IPv4) or 6 (port, IPv6)
    function r.addr(field, required, t)
        need(1)
        local fam = tvb(r.off, 1):uint()
        local s
        local n
        if fam == 0 and not required then
            s, n = "-", 1
        elseif fam == 4 then
            need(7)
            s = tostring(tvb(r.off + 3, 4):ipv4()) .. ":" .. tvb(r.off + 1, 2):uint()
            n = 7
        elseif fam == 6 then
            need(19)
            s = "[" .. tostring(tvb(r.off + 3, 16):ipv6()) .. "]:" .. tvb(r.off + 1, 2):uint()
            n = 19
        else
            error("malformed")
        end
        (t or tree):add(field, tvb(r.off, n), s)
        r.off = r.off + n
        return s
    end
    return r
end

local function record(r, tree, tvb, stop)
    local rec = tree:add(qasmt, tvb(r.off, stop - r.off), "Connection record")
    local odcid = r.cid(f.odcid, rec)
    r.cid(f.scid, rec)
    r.addr(f.server, false, rec)
    r.u32(f.rev, rec)
    r.u8(f.dcid_len, rec)
    r.u8(f.rec_flags, rec)
    r.u8(f.current, rec)
    local nd = r.u8(f.ndcids, rec)
    if nd > 16 then error("malformed") end
    for _ = 1, nd do
        r.cid(f.dcid, rec)
        r.varint(f.cid_seq, rec)
    end
    local nc = r.u8(f.nclients, rec)
    if nc < 1 or nc > 8 then error("malformed") end
    for _ = 1, nc do
        r.addr(f.client, true, rec)
    end
    return "odcid=" .. odcid .. " dcids=" .. nd .. " clients=" .. nc
end

-- Dissect one whole message at |off| (|len| bytes); returns a summary for the Info column.
local function message(tvb, pinfo, tree, off, len)
    local t = tree:add(qasmt, tvb(off, len))
    t:add(f.magic, tvb(off, 2))
    t:add(f.version, tvb(off + 2, 1))
    local ty = tvb(off + 3, 1):uint()
    t:add(f.type, tvb(off + 3, 1))
    local name = types[ty] or string.format("0x%02x", ty)
    t:add(f.type_name, tvb(off + 3, 1), name)
    t:add(f.length, tvb(off + 4, 2))
    t:add(f.flags, tvb(off + 6, 2))
    t:add(f.req_id, tvb(off + 8, 4))
    t:append_text(", " .. name)
    local stop = off + len
    local r = reader(tvb, t, off + HDR_LEN, stop)
    local info = name
    local ok, err = pcall(function()
        local version = tvb(off + 2, 1):uint()
        if version < 1 or version > 3 then
            info = info .. " (version " .. version .. ", not decoded)"
            return
        end
        if ty >= 0x01 and ty <= 0x06 then
            local odcid = r.cid(f.odcid)
            r.addr(f.client0, true)
            local client = r.addr(f.client, true)
            local seq = r.u32(f.seq)
            info = info .. " odcid=" .. odcid .. " client=" .. client .. " seq=" .. seq
            if ty == 0x01 then
                r.cid(f.scid)
                info = info .. " server=" .. r.addr(f.server, true)
            elseif ty == 0x02 or ty == 0x03 then
                local d = r.cid(f.dcid)
                local s = r.varint(f.cid_seq)
                info = info .. " dcid=" .. d .. " cid_seq=" .. tostring(s)
            elseif ty == 0x06 then
                info = info .. " " .. record(r, t, tvb, stop)
            end
            if version >= 2 then
                local function bytes(field, n)
                    if r.off + n > stop then error("malformed") end
                    t:add(field, tvb(r.off, n))
                    local v = tvb(r.off, n):bytes():tohex()
                    r.off = r.off + n
                    return v
                end
                if ty == 0x01 or ty == 0x06 then bytes(f.secret, 16) end
                local mac = bytes(f.mac, 16)
                info = info .. (mac:match("^0+$") and " unauthenticated" or " mac")
                local kn = r.u8(nil)
                if kn ~= 0 and kn ~= 16 then error("malformed") end
                if kn == 16 then
                    bytes(f.key_mac, 16)
                    info = info .. " key-mac"
                end
            end
        elseif ty == 0x10 then
            local d = r.cid(f.dcid)
            r.addr(f.server, false)
            info = info .. " dcid=" .. d .. " wait_ms=" .. r.u32(f.wait_ms)
        elseif ty == 0x11 or ty == 0x12 then
            r.u8(f.sub_flags)
            info = info .. " cid=" .. r.cid(f.cid)
            r.addr(f.server, false)
        elseif ty == 0x20 then
            info = info .. " " .. record(r, t, tvb, stop)
        elseif ty == 0x21 then
            info = info .. " cid=" .. r.cid(f.cid)
        elseif ty == 0x22 then
            local ev = r.u8(f.event)
            info = info .. " " .. (events[ev] or tostring(ev)) .. " " .. record(r, t, tvb, stop)
        elseif ty == 0x23 then
            info = info .. " count=" .. r.u32(f.count)
        elseif ty == 0x24 then
            local code = r.u16(f.err_code)
            local n = r.u8(nil)
            if r.off + n > stop then error("malformed") end
            t:add(f.err_text, tvb(r.off, n))
            r.off = r.off + n
            info = info .. " code=" .. code
        elseif ty == 0x25 then
            local n = r.u8(nil)
            for _ = 1, n do
                local nl = r.u8(nil)
                if nl < 1 or nl > 31 or r.off + nl > stop then error("malformed") end
                t:add(f.stat_name, tvb(r.off, nl))
                r.off = r.off + nl
                r.u64(f.stat_value)
            end
            info = info .. " n=" .. n
        elseif (ty == 0x15 or ty == 0x16 or ty == 0x26) and version >= 3 then
            -- the key handshake: HELLO nonce, CHALLENGE nonce and proof, AUTH proof
            if ty ~= 0x16 then
                if r.off + 16 > stop then error("malformed") end
                t:add(f.nonce, tvb(r.off, 16))
                r.off = r.off + 16
            end
            if ty ~= 0x15 then
                if r.off + 16 > stop then error("malformed") end
                t:add(f.proof, tvb(r.off, 16))
                r.off = r.off + 16
            end
        elseif ty == 0x13 or ty == 0x14 then
            -- empty body
        else
            info = info .. " (unknown type)"
            return
        end
        if r.off ~= stop then error("malformed") end
    end)
    if not ok then
        t:add_proto_expert_info(ef_malformed, tostring(err):match("malformed") and
                                "body does not decode" or tostring(err))
        info = info .. " [malformed]"
    end
    return info
end

local function header_ok(tvb, off, avail)
    return avail >= HDR_LEN and tvb(off, 1):uint() == 0x51 and tvb(off + 1, 1):uint() == 0x54
end

-- UDP: one message per datagram.
local function dissect_udp(tvb, pinfo, tree)
    local len = tvb:len()
    if not header_ok(tvb, 0, len) then return 0 end
    pinfo.cols.protocol = "QASM-T"
    local mlen = tvb(4, 2):uint()
    if mlen ~= len then
        local t = tree:add(qasmt, tvb())
        t:add(f.magic, tvb(0, 2))
        t:add(f.length, tvb(4, 2))
        t:add_proto_expert_info(ef_malformed, "length field differs from the datagram length")
        pinfo.cols.info = "QASM tracker message [malformed length]"
        return len
    end
    pinfo.cols.info = message(tvb, pinfo, tree, 0, len)
    return len
end

-- TCP: messages back to back, reassembled by length.
local function pdu_len(tvb, pinfo, off)
    return tvb(off + 4, 2):uint()
end

local function dissect_pdu(tvb, pinfo, tree)
    pinfo.cols.protocol = "QASM-T"
    local len = tvb:len()
    if not header_ok(tvb, 0, len) or len < HDR_LEN or len > MAX_MSG then
        tree:add(qasmt, tvb()):add_proto_expert_info(ef_malformed, "bad header")
        return len
    end
    local info = message(tvb, pinfo, tree, 0, len)
    local prev = tostring(pinfo.cols.info)
    if prev:find("QUERY") or prev:find("RECORD") or prev:find("PUSH") or prev:find("REPORT") then
        pinfo.cols.info:append("; " .. info)
    else
        pinfo.cols.info = info
    end
    return len
end

local function dissect_tcp(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, HDR_LEN, pdu_len, dissect_pdu)
    return tvb:len()
end

function qasmt.dissector(tvb, pinfo, tree)
    if pinfo.port_type == 3 then -- UDP (PT_UDP)
        return dissect_udp(tvb, pinfo, tree)
    end
    return dissect_tcp(tvb, pinfo, tree)
end

local udp_proto = Proto("qasmt_udp", "QASM Tracker Protocol (UDP)")
udp_proto.dissector = dissect_udp
local tcp_proto = Proto("qasmt_tcp", "QASM Tracker Protocol (TCP)")
tcp_proto.dissector = dissect_tcp

DissectorTable.get("udp.port"):add(PORT, udp_proto)
DissectorTable.get("tcp.port"):add(PORT, tcp_proto)

-- Any other UDP port: magic, version 1 to 3, a known type and an exact length.
local function heuristic(tvb, pinfo, tree)
    local len = tvb:len()
    local v = header_ok(tvb, 0, len) and tvb(2, 1):uint()
    if not v or v < 1 or v > 3 then return false end
    if not types[tvb(3, 1):uint()] or tvb(4, 2):uint() ~= len then return false end
    dissect_udp(tvb, pinfo, tree)
    return true
end
qasmt:register_heuristic("udp", heuristic)

-- TCP on another port (a tracker started with --listen on a free port): a
-- segment that starts with a valid header claims the conversation.
local function heuristic_tcp(tvb, pinfo, tree)
    local len = tvb:len()
    local v = header_ok(tvb, 0, len) and tvb(2, 1):uint()
    if not v or v < 1 or v > 3 then return false end
    local mlen = tvb(4, 2):uint()
    if not types[tvb(3, 1):uint()] or mlen < HDR_LEN or mlen > MAX_MSG then return false end
    pinfo.conversation = tcp_proto
    dissect_tcp(tvb, pinfo, tree)
    return true
end
tcp_proto:register_heuristic("tcp", heuristic_tcp)
