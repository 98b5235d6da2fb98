//! Frames on a stream: reading them ([`read_frame`], the buffered [`FrameReader`]), writing them
//! ([`write_frame`]), and [`Framed`], the framed protocol as a codec of the server's queueing
//! model, generic over a message [`Family`] (requests and replies are messages of the family
//! tagged with the caller's id, so replies may overtake one another).
//!
//! This module must not know what a message means: classification is each family's
//! [`Family`] impl, the bytes of each message its `wire_messages!` table.

use super::{Family, Frame, MAX_FRAME_BYTES, ProtoError, Wire, encode_frame};
use crate::server::{Class, Codec, Incoming, Refusal, ReplyTo};
use std::io;
use std::marker::PhantomData;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<M: Wire, R: AsyncRead + Unpin>(
    r: &mut R,
    scratch: &mut Vec<u8>,
) -> io::Result<Option<Frame<M>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME_BYTES {
        return Err(ProtoError::TooLarge(len).into());
    }
    scratch.resize(len as usize, 0);
    r.read_exact(scratch).await?;
    Ok(Some(Frame::decode(scratch)?))
}

/// Reads frames from a stream through a buffer.
///
/// One read takes in whatever the peer has sent so far (a segment, or several frames at
/// once), and a frame already buffered costs no read at all, where [`read_frame`] reads each
/// frame's length and then its body (two reads a frame, plus the one that finds nothing yet).
/// Its [`FrameReader::next`] is cancel-safe: the bytes of a partly received frame stay in the
/// buffer, so it can be raced against a timeout and called again.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// How much a [`FrameReader`] asks for per read at least (its buffer grows for larger frames).
const READ_CHUNK: usize = 4096;

/// A [`FrameReader`]'s buffer shrinks back once empty if it grew past this.
const KEEP_BYTES: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of the frames `inner` carries.
    pub fn new(inner: R) -> Self {
        Self { inner, buf: vec![0; READ_CHUNK], start: 0, end: 0 }
    }

    /// The next frame; `None` when the peer closed the stream between two frames. A stream
    /// that ends inside a frame is an `UnexpectedEof` error; a frame that cannot be decoded
    /// is an `InvalidData` error.
    pub async fn next<M: Wire>(&mut self) -> io::Result<Option<Frame<M>>> {
        loop {
            let buffered = self.end - self.start;
            let mut need = 4;
            if buffered >= 4 {
                let len = u32::from_be_bytes(self.buf[self.start..self.start + 4].try_into().expect("4 bytes"));
                if len > MAX_FRAME_BYTES {
                    return Err(ProtoError::TooLarge(len).into());
                }
                need = 4 + len as usize;
                if buffered >= need {
                    let frame = Frame::decode(&self.buf[self.start + 4..self.start + need]);
                    self.start += need;
                    if self.start == self.end {
                        (self.start, self.end) = (0, 0);
                        if self.buf.len() > KEEP_BYTES {
                            // A large frame passed: give its room back.
                            self.buf.truncate(READ_CHUNK);
                            self.buf.shrink_to_fit();
                        }
                    }
                    return Ok(Some(frame?));
                }
            }
            self.make_room(need);
            let n = self.inner.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return match self.end - self.start {
                    0 => Ok(None),
                    partial => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the stream ended {partial} bytes into a frame"),
                    )),
                };
            }
            self.end += n;
        }
    }

    /// Makes the buffer's free tail long enough to hold the rest of a frame of `need` bytes
    /// and at least one chunk.
    fn make_room(&mut self, need: usize) {
        if self.start > 0 && self.buf.len() - self.start < need.max(READ_CHUNK) {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let want = self.start + need.max(self.end - self.start + READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    /// The stream, to write on (its buffered, unread bytes stay here).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Writes one frame with a single write call (one segment on the simulated network).
pub async fn write_frame<M: Wire, W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame<M>,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    scratch.clear();
    frame.encode(scratch);
    w.write_all(scratch).await?;
    w.flush().await
}

/// The framed protocol as a server codec: every request and reply is a [`Frame`] of the
/// family `M`.
pub struct Framed<M>(PhantomData<fn() -> M>);

impl<M: Family> Codec for Framed<M> {
    type Request = M;
    type Reply = M;
    type Reader<R: AsyncRead + Unpin + 'static> = FrameReader<R>;

    fn reader<R: AsyncRead + Unpin + 'static>(read_half: R) -> FrameReader<R> {
        FrameReader::new(read_half)
    }

    async fn read<R: AsyncRead + Unpin + 'static>(reader: &mut FrameReader<R>) -> io::Result<Option<Incoming<M>>> {
        Ok(reader.next::<M>().await?.map(|frame| Incoming { request: frame.msg, reply_to: ReplyTo::Id(frame.id) }))
    }

    fn encode(reply: &M, id: u64, out: &mut Vec<u8>) {
        encode_frame(id, reply, out);
    }

    fn class(request: &M) -> Class {
        request.class()
    }

    fn refusal(why: Refusal, detail: String) -> M {
        M::refusal(why, detail)
    }

    fn is_failure(reply: &M) -> bool {
        reply.is_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::api::Msg;

    #[tokio::test]
    async fn oversized_length_is_refused() {
        let bytes = (MAX_FRAME_BYTES + 1).to_be_bytes();
        let mut r: &[u8] = &bytes;
        let err = read_frame::<Msg, _>(&mut r, &mut Vec::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    /// Hands out `bytes` in pieces of the given sizes (cycled), answering `Pending` (after
    /// waking itself) before every piece, as a socket whose data trickles in does.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
        ready: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            if !std::mem::replace(&mut self.ready, false) {
                self.ready = true;
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            let size = self.sizes[self.turn % self.sizes.len()].max(1);
            self.turn += 1;
            let end = (self.at + size).min(self.bytes.len()).min(self.at + buf.remaining());
            buf.put_slice(&self.bytes[self.at..end]);
            self.at = end;
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn frames(n: usize) -> Vec<Frame<Msg>> {
        (0..n as u64)
            .map(|id| match id % 3 {
                0 => Frame { id, msg: Msg::Value { value: Some(vec![id as u8; (id as usize * 37) % 300]), lsn: id } },
                1 => Frame { id, msg: Msg::Written { lsn: id, epoch: 2 } },
                _ => Frame { id, msg: Msg::Put { key: b"k".to_vec(), value: vec![7; 9000 * (id as usize % 2)] } },
            })
            .collect()
    }

    async fn read_all(bytes: Vec<u8>, sizes: Vec<usize>) -> (Vec<Frame<Msg>>, io::Result<Option<Frame<Msg>>>) {
        let mut r = FrameReader::new(Trickle { bytes, at: 0, sizes, turn: 0, ready: false });
        let mut got = Vec::new();
        loop {
            match r.next::<Msg>().await {
                Ok(Some(f)) => got.push(f),
                end => return (got, end),
            }
        }
    }

    #[tokio::test]
    async fn a_frame_reader_reads_frames_however_the_bytes_arrive() {
        let sent = frames(40);
        let bytes: Vec<u8> = sent.iter().flat_map(Frame::to_bytes).collect();
        // Byte by byte, odd pieces, and everything in one read (many frames per read).
        for sizes in [vec![1], vec![3, 1, 700, 5], vec![bytes.len()]] {
            let (got, end) = read_all(bytes.clone(), sizes.clone()).await;
            assert_eq!(got, sent, "pieces {sizes:?}");
            assert!(matches!(end, Ok(None)), "a clean end between frames is None");
        }
    }

    #[tokio::test]
    async fn a_frame_reader_refuses_a_stream_cut_inside_a_frame_or_an_oversized_one() {
        let mut bytes: Vec<u8> = frames(2).iter().flat_map(Frame::to_bytes).collect();
        bytes.truncate(bytes.len() - 3);
        let (got, end) = read_all(bytes, vec![5]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let (got, end) = read_all(vec![1, 2], vec![1]).await;
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof, "half a length prefix");
        let (_, end) = read_all((MAX_FRAME_BYTES + 1).to_be_bytes().to_vec(), vec![4]).await;
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_frame_reader_loses_nothing_when_a_read_is_cancelled() {
        let sent = frames(12);
        let bytes: Vec<u8> = sent.iter().flat_map(Frame::to_bytes).collect();
        let mut r = FrameReader::new(Trickle { bytes, at: 0, sizes: vec![7], turn: 0, ready: false });
        let mut got = Vec::new();
        while got.len() < sent.len() {
            // Poll `next` once or twice and drop it: a timeout racing the read does this.
            let polled = {
                let next = r.next::<Msg>();
                tokio::pin!(next);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match next.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(out) => Some(out),
                    std::task::Poll::Pending => match next.as_mut().poll(&mut cx) {
                        std::task::Poll::Ready(out) => Some(out),
                        std::task::Poll::Pending => None,
                    },
                }
            };
            if let Some(out) = polled {
                got.push(out.expect("no error").expect("a frame"));
            }
        }
        assert_eq!(got, sent);
        assert!(matches!(r.next::<Msg>().await, Ok(None)));
        assert!(r.buf.len() <= KEEP_BYTES, "the room a 9000-byte frame took was given back");
    }
}
