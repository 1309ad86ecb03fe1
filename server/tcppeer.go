package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Who owns the other end of a loopback TCP connection is in the kernel's
// socket table, as it is for Unix sockets: the peer is a socket on this
// machine, in this network namespace. NETLINK_SOCK_DIAG looks one socket
// up by its four-tuple (what ss(8) and identd do) and reports the uid that
// created it. These are the kernel's structs (linux/inet_diag.h), which
// golang.org/x/sys does not define.

type inetDiagSockID struct {
	SPort  [2]byte // big-endian
	DPort  [2]byte
	Src    [16]byte
	Dst    [16]byte
	If     uint32
	Cookie [2]uint32
}

type inetDiagReqV2 struct {
	Family   uint8
	Protocol uint8
	Ext      uint8
	Pad      uint8
	States   uint32
	ID       inetDiagSockID
}

type inetDiagMsg struct {
	Family  uint8
	State   uint8
	Timer   uint8
	Retrans uint8
	ID      inetDiagSockID
	Expires uint32
	RQueue  uint32
	WQueue  uint32
	UID     uint32
	Inode   uint32
}

// errPeerGone is a peer socket that no process holds any more: the kernel
// keeps closed sockets for a while, with no owner (uid 0), and that must
// not read as root.
var errPeerGone = errors.New("the peer's socket is closed")

// loopbackPeerUID returns the uid owning the socket at the other end of a
// loopback TCP connection whose ends are local and remote.
func loopbackPeerUID(local, remote *net.TCPAddr) (uint32, error) {
	req := inetDiagReqV2{Family: unix.AF_INET, Protocol: unix.IPPROTO_TCP, States: ^uint32(0)}
	src, dst := remote.IP.To4(), local.IP.To4()
	if src == nil || dst == nil {
		req.Family = unix.AF_INET6
		src, dst = remote.IP.To16(), local.IP.To16()
	}
	// The peer's socket: its source is our remote end.
	binary.BigEndian.PutUint16(req.ID.SPort[:], uint16(remote.Port))
	binary.BigEndian.PutUint16(req.ID.DPort[:], uint16(local.Port))
	copy(req.ID.Src[:], src)
	copy(req.ID.Dst[:], dst)
	req.ID.Cookie = [2]uint32{^uint32(0), ^uint32(0)} // INET_DIAG_NOCOOKIE

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// No answer within a second is no answer: the kernel answers at once.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	const reqLen = unix.SizeofNlMsghdr + int(unsafe.Sizeof(inetDiagReqV2{}))
	buf := make([]byte, reqLen)
	*(*unix.NlMsghdr)(unsafe.Pointer(&buf[0])) = unix.NlMsghdr{
		Len: uint32(reqLen), Type: unix.SOCK_DIAG_BY_FAMILY, Flags: unix.NLM_F_REQUEST, Seq: 1,
	}
	*(*inetDiagReqV2)(unsafe.Pointer(&buf[unix.SizeofNlMsghdr])) = req
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	rb := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, rb, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rb[:n])
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) >= 4 {
				if errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno != 0 {
					return 0, fmt.Errorf("sock_diag: %w", unix.Errno(errno))
				}
			}
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(m.Data) < int(unsafe.Sizeof(inetDiagMsg{})) {
				return 0, errors.New("sock_diag: short answer")
			}
			var msg inetDiagMsg
			msg = *(*inetDiagMsg)(unsafe.Pointer(&m.Data[0]))
			if msg.Inode == 0 {
				return 0, errPeerGone
			}
			return msg.UID, nil
		}
	}
	return 0, errors.New("sock_diag: no answer")
}
