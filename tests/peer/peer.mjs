#!/usr/bin/env node
// qunbot end-to-end test peer.
//
// A Wechaty puppet service (the same gRPC server the real Node gateway runs)
// in front of a *stateful* PuppetMock, driven by the test over stdin/stdout
// JSON lines.  See README.md beside this file for the protocol.
//
//   node peer.mjs --port P --token T [--log-level warn] [--heartbeat-ms 0]
//
// stdout carries ONLY protocol lines; every log goes to stderr.

import readline from 'node:readline'
import { parseArgs } from 'node:util'

// brolog (the Wechaty logger) prints with console.*: keep stdout clean.
console.log = console.error
console.info = console.error
console.debug = console.error

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    'log-level': { type: 'string', default: process.env.WECHATY_LOG || 'warn' },
    'heartbeat-ms': { type: 'string', default: '0' },
  },
})
if (!opts.port || !opts.token) {
  console.error('usage: node peer.mjs --port P --token T')
  process.exit(2)
}

const PUPPET = await import('wechaty-puppet')
const { FileBox } = await import('file-box')
const { PuppetMock, mock } = await import('wechaty-puppet-mock')
const { PuppetServer } = await import('wechaty-puppet-service')

PUPPET.log.level(opts['log-level'])

const MT = PUPPET.types.Message

// ---------------------------------------------------------------- channel

function out (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// JSON-safe, compact description of a value (FileBoxes summarised).
function describe (v) {
  if (v === undefined || v === null) return null
  if (FileBox.valid(v)) {
    const d = { fileBox: true, name: v.name, boxType: v.type, mediaType: v.mediaType }
    if (v.size >= 0) d.size = v.size
    if (v._peerBase64 !== undefined) d.base64 = v._peerBase64
    return d
  }
  if (v instanceof Error) return v.message
  if (Array.isArray(v)) return v.map(describe)
  if (typeof v === 'object') {
    const o = {}
    for (const [k, x] of Object.entries(v)) o[k] = describe(x)
    return o
  }
  return v
}

// Attach the bytes of a (small enough) FileBox so reports can carry them.
async function captureBase64 (v) {
  if (!FileBox.valid(v)) return
  try {
    if (v.size < 0 || v.size <= 4 * 1024 * 1024) v._peerBase64 = await v.toBase64()
  } catch (e) {
    console.error('peer: cannot read FileBox bytes:', e.message)
  }
}

// ------------------------------------------------------------ the puppet

// Puppet methods reported to the test (the bot's actions).
const REPORTED = [
  'start', 'stop', 'logout', 'ding',
  'messageSendText', 'messageSendUrl', 'messageSendMiniProgram',
  'messageSendContact', 'messageSendFile', 'messageSendLocation',
  'messageForward', 'messageRecall', 'messageImage', 'messageFile',
  'roomAdd', 'roomDel', 'roomQuit', 'roomCreate', 'roomTopic', 'roomAnnounce',
  'roomMemberList', 'roomInvitationAccept',
  'friendshipAccept', 'friendshipAdd', 'contactAlias',
]
// Reads: not reported (too noisy) unless a `fail` made them throw.
const QUIET = [
  'messagePayload', 'messageUrl', 'messageMiniProgram', 'messageContact',
  'roomPayload', 'roomMemberPayload', 'roomList', 'contactPayload',
  'contactList', 'roomInvitationPayload', 'friendshipPayload', 'roomAvatar',
  'contactAvatar', 'roomQRCode',
]
// Getter/setter methods: only the SET form (2nd argument given) is an action.
const SET_ONLY = new Set(['roomTopic', 'roomAnnounce', 'contactAlias'])

const calls = []
const failures = new Map() // method -> {times, error}

function report (method, args, result, error) {
  const rec = {
    type: 'call',
    method,
    args: describe(args),
    result: describe(result),
    error: error ? String(error.message || error) : null,
    ts: Date.now(),
  }
  calls.push(rec)
  out(rec)
}

class StatefulPuppet extends PuppetMock {
  constructor (options) {
    super(options)
    this.loginUser = null // {id, name} after the `login` command
    this.setupUserId = null
    this.seq = 0
    this.attachments = new Map() // messageId -> {url|miniProgram|contactId|fileBox}
    this.invitations = new Map()
    this.friendships = new Map()
    this.friendRequests = [] // friendshipAdd: the requests the bot sent
    this.memberMeta = new Map() // roomId -> Map(contactId -> {inviterId, roomAlias})
    this.heartbeatTimer = null
    this.lastEmitted = new Map() // event name -> its last payload (for `replay`)

    // Defect 10: the Python client calls Stop() then Start() on every
    // connect; a real gateway's puppet logs in again on start: so do we.
    // (`start` is emitted once the puppet is fully active.)
    this.on('start', () => this.doLogin())

    for (const name of [...REPORTED, ...QUIET]) {
      const orig = this[name]
      if (typeof orig !== 'function') continue
      const quiet = QUIET.includes(name)
      this[name] = async (...args) => {
        const isAction = !SET_ONLY.has(name) || args[1] !== undefined
        const f = failures.get(name)
        if (f && f.times > 0) {
          f.times -= 1
          if (f.times <= 0) failures.delete(name)
          const err = new Error(f.error)
          report(name, args, null, err)
          throw err
        }
        if (quiet || !isAction) return orig.apply(this, args)
        if (name === 'messageSendFile') await captureBase64(args[1])
        try {
          const result = await orig.apply(this, args)
          report(name, args, result, null)
          return result
        } catch (e) {
          report(name, args, null, e)
          throw e
        }
      }
    }
  }

  nextId (prefix) {
    this.seq += 1
    return `${prefix}-${Date.now().toString(36)}-${this.seq}`
  }

  get selfId () {
    return this.isLoggedIn ? this.currentUserId : (this.loginUser?.id || this.setupUserId)
  }

  // ---- lifecycle

  async onStart () {
    await super.onStart()
    const ms = Number(opts['heartbeat-ms'])
    if (ms > 0 && !this.heartbeatTimer) {
      this.heartbeatTimer = setInterval(() => this.emit('heartbeat', { data: 'peer heartbeat' }), ms)
    }
  }

  async onStop () {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = null
    await super.onStop()
  }

  doLogin () {
    if (!this.loginUser || this.isLoggedIn) return false
    if (!this.isActive()) return false
    this.mocker.login(this.mocker.ContactMock.load(this.loginUser.id))
    this.logins = (this.logins || 0) + 1
    setImmediate(() => this.emit('ready', { data: 'ready' }))
    return true
  }

  isActive () {
    try { return this.state.active() === true } catch { return false }
  }

  ding (data) {
    // PuppetMock answers with `dong` after 1 s.
    return super.ding(data)
  }

  // ---- state helpers

  room (roomId) {
    const p = this.mocker.cacheRoomPayload.get(roomId)
    if (!p) throw new Error(`room ${roomId} not found`)
    return p
  }

  meta (roomId) {
    if (!this.memberMeta.has(roomId)) this.memberMeta.set(roomId, new Map())
    return this.memberMeta.get(roomId)
  }

  ensureContact (c) {
    const spec = typeof c === 'string' ? { id: c } : c
    if (this.mocker.cacheContactPayload.has(spec.id)) return this.mocker.cacheContactPayload.get(spec.id)
    const payload = {
      address: '',
      alias: '',
      avatar: '',
      city: '',
      friend: true,
      gender: PUPPET.types.ContactGender.Unknown,
      name: spec.id,
      phone: [],
      province: '',
      signature: '',
      star: false,
      type: PUPPET.types.Contact.Individual,
      ...spec,
    }
    this.mocker.createContact(payload)
    return this.mocker.cacheContactPayload.get(spec.id)
  }

  ensureRoom (spec) {
    if (!spec.id || !spec.id.includes('@')) throw new Error(`room id must contain "@": ${spec.id}`)
    for (const m of spec.memberIds || []) this.ensureContact(m)
    if (this.mocker.cacheRoomPayload.has(spec.id)) return this.room(spec.id)
    this.mocker.createRoom({
      id: spec.id,
      topic: spec.topic ?? spec.id,
      avatar: '',
      memberIdList: [...(spec.memberIds || [])],
      ownerId: spec.ownerId || undefined,
      adminIdList: [...(spec.adminIds || [])],
      announce: spec.announce || '',
    })
    return this.room(spec.id)
  }

  addMembers (roomId, ids, inviterId) {
    const r = this.room(roomId)
    const added = []
    for (const id of ids) {
      this.ensureContact(id)
      if (!r.memberIdList.includes(id)) {
        r.memberIdList.push(id)
        added.push(id)
      }
      this.meta(roomId).set(id, { inviterId: inviterId || undefined })
    }
    return added
  }

  removeMembers (roomId, ids) {
    const r = this.room(roomId)
    for (const id of ids) {
      const i = r.memberIdList.indexOf(id)
      if (i >= 0) r.memberIdList.splice(i, 1)
      r.adminIdList = (r.adminIdList || []).filter(x => x !== id)
      this.meta(roomId).delete(id)
    }
  }

  emitJoin (roomId, inviteeIdList, inviterId) {
    const payload = { inviteeIdList, roomId, timestamp: Date.now() }
    if (inviterId !== null && inviterId !== undefined) payload.inviterId = inviterId
    this.emit('room-join', payload)
    return payload
  }

  emitLeave (roomId, removeeIdList, removerId) {
    const payload = { removeeIdList, removerId, roomId, timestamp: Date.now() }
    this.emit('room-leave', payload)
    return payload
  }

  // Every event emitted, last payload per name: the `replay` command sends it again.
  emit (name, ...args) {
    if (this.lastEmitted && typeof name === 'string' && args.length) this.lastEmitted.set(name, args[0])
    return super.emit(name, ...args)
  }

  // Store a message and emit its `message` event (like a real puppet).
  postMessage (payload, attachment) {
    const id = payload.id || this.nextId('msg')
    const full = { timestamp: Date.now(), mentionIdList: [], ...payload, id }
    if (attachment) this.attachments.set(id, attachment)
    this.mocker.MessageMock.create(full)
    setImmediate(() => this.emit('message', { messageId: id }))
    return id
  }

  requireLogin () {
    if (!this.isLoggedIn) throw new Error('not logged in')
    return this.currentUserId
  }

  conversationPayload (conversationId) {
    if (conversationId.includes('@')) {
      const r = this.room(conversationId)
      if (!r.memberIdList.includes(this.currentUserId)) throw new Error(`not a member of ${conversationId}`)
      return { roomId: conversationId }
    }
    this.ensureContact(conversationId)
    return { listenerId: conversationId }
  }

  // The bot's own sends: a real message id, stored, echoed back as `message`.
  selfSend (conversationId, type, extra, attachment) {
    const me = this.requireLogin()
    return this.postMessage({ talkerId: me, type, ...this.conversationPayload(conversationId), ...extra }, attachment)
  }

  // ---- payloads (fresh from state, no stale cache)

  async contactRawPayload (id) {
    return this.mocker.contactPayload(id)
  }

  async contactPayload (id) {
    return { ...this.mocker.contactPayload(id) }
  }

  async roomList () {
    const me = this.selfId
    return [...this.mocker.cacheRoomPayload.values()]
      .filter(r => !me || r.memberIdList.includes(me))
      .map(r => r.id)
  }

  async roomPayload (roomId) {
    const r = this.room(roomId)
    return {
      id: r.id,
      topic: r.topic,
      avatar: r.avatar || '',
      memberIdList: [...r.memberIdList],
      ownerId: r.ownerId || undefined,
      adminIdList: [...(r.adminIdList || [])],
    }
  }

  async roomMemberList (roomId) {
    return [...this.room(roomId).memberIdList]
  }

  async roomMemberPayload (roomId, memberId) {
    const r = this.room(roomId)
    if (!r.memberIdList.includes(memberId)) {
      throw new Error(`contact(${memberId}) is not in the Room(${roomId})`)
    }
    const c = this.mocker.contactPayload(memberId)
    const m = this.meta(roomId).get(memberId) || {}
    return {
      id: memberId,
      name: c.name,
      avatar: c.avatar || '',
      roomAlias: m.roomAlias || '',
      inviterId: m.inviterId || undefined,
    }
  }

  async messageRawPayload (id) {
    return this.mocker.messagePayload(id)
  }

  async messagePayload (id) {
    return this.mocker.messagePayload(id)
  }

  // ---- messages

  async messageSendText (conversationId, text, mentionIdList) {
    return this.selfSend(conversationId, MT.Text, { text, mentionIdList: mentionIdList || [] })
  }

  async messageSendUrl (conversationId, urlLinkPayload) {
    return this.selfSend(conversationId, MT.Url, { text: urlLinkPayload.title || '' }, { url: { ...urlLinkPayload } })
  }

  async messageSendMiniProgram (conversationId, miniProgramPayload) {
    return this.selfSend(conversationId, MT.MiniProgram, { text: miniProgramPayload.title || '' }, { miniProgram: { ...miniProgramPayload } })
  }

  async messageSendContact (conversationId, contactId) {
    this.ensureContact(contactId)
    return this.selfSend(conversationId, MT.Contact, {}, { contactId })
  }

  async messageSendFile (conversationId, fileBox) {
    return this.selfSend(conversationId, fileMessageType(fileBox), { filename: fileBox.name }, { fileBox })
  }

  async messageSendLocation (conversationId, locationPayload) {
    return this.selfSend(conversationId, MT.Location, { text: locationPayload.name || '' }, { location: { ...locationPayload } })
  }

  async messageForward (conversationId, messageId) {
    const src = this.mocker.messagePayload(messageId)
    const { id: _id, talkerId: _t, roomId: _r, listenerId: _l, mentionIdList: _m, timestamp: _ts, ...rest } = src
    return this.selfSend(conversationId, src.type, rest, this.attachments.get(messageId))
  }

  async messageRecall (messageId) {
    const p = this.mocker.cacheMessagePayload.get(messageId)
    if (!p || !this.isLoggedIn || p.talkerId !== this.currentUserId) return false
    p.recalled = true
    return true
  }

  async messageUrl (messageId) {
    const a = this.attachments.get(messageId)
    if (!a?.url) throw new Error(`message ${messageId} has no url link`)
    return { ...a.url }
  }

  async messageMiniProgram (messageId) {
    const a = this.attachments.get(messageId)
    if (!a?.miniProgram) throw new Error(`message ${messageId} has no mini program`)
    return { ...a.miniProgram }
  }

  async messageContact (messageId) {
    const a = this.attachments.get(messageId)
    if (!a?.contactId) throw new Error(`message ${messageId} has no contact card`)
    return a.contactId
  }

  async messageImage (messageId, _imageType) {
    return this.messageFile(messageId)
  }

  async messageFile (messageId) {
    const a = this.attachments.get(messageId)
    if (!a?.fileBox) throw new Error(`message ${messageId} has no file`)
    return a.fileBox
  }

  async messageLocation (messageId) {
    const a = this.attachments.get(messageId)
    if (!a?.location) throw new Error(`message ${messageId} has no location`)
    return { ...a.location }
  }

  // ---- rooms (the bot's actions change state and emit the events a real
  //      puppet would)

  canManage (r) {
    // Only enforced when the room's owner is known.
    if (!r.ownerId) return true
    const me = this.currentUserId
    return r.ownerId === me || (r.adminIdList || []).includes(me)
  }

  async roomAdd (roomId, contactId, _inviteOnly) {
    const me = this.requireLogin()
    const added = this.addMembers(roomId, [contactId], me)
    if (added.length) setImmediate(() => this.emitJoin(roomId, added, me))
  }

  async roomDel (roomId, contactId) {
    const me = this.requireLogin()
    const r = this.room(roomId)
    if (!r.memberIdList.includes(me)) throw new Error(`not a member of ${roomId}`)
    if (!this.canManage(r)) throw new Error('no permission: only the owner or an admin can remove members')
    if (!r.memberIdList.includes(contactId)) return
    this.removeMembers(roomId, [contactId])
    setImmediate(() => this.emitLeave(roomId, [contactId], me))
  }

  async roomQuit (roomId) {
    const me = this.requireLogin()
    const r = this.room(roomId)
    if (!r.memberIdList.includes(me)) return
    this.removeMembers(roomId, [me])
    // WeChat hands the group to the next member when its owner quits.
    if (r.ownerId === me) r.ownerId = r.memberIdList[0] || undefined
    setImmediate(() => this.emitLeave(roomId, [me], me))
  }

  async roomCreate (contactIdList, topic) {
    const me = this.requireLogin()
    const id = `${this.nextId('room')}@chatroom`
    const others = [...new Set(contactIdList)].filter(c => c !== me)
    // WeChat needs at least two others to start a group.
    if (others.length < 2) throw new Error('roomCreate needs at least 2 contacts besides the bot')
    this.ensureRoom({ id, topic: topic || '', memberIds: [me, ...others], ownerId: me, adminIds: [] })
    for (const c of others) this.meta(id).set(c, { inviterId: me })
    setImmediate(() => this.emitJoin(id, others, me))
    return id
  }

  async roomTopic (roomId, topic) {
    const r = this.room(roomId)
    if (topic === undefined) return r.topic
    const me = this.requireLogin()
    const oldTopic = r.topic
    r.topic = topic
    setImmediate(() => this.emit('room-topic', { changerId: me, newTopic: topic, oldTopic, roomId, timestamp: Date.now() }))
  }

  async roomAnnounce (roomId, text) {
    const r = this.room(roomId)
    if (text === undefined) return r.announce || ''
    this.requireLogin()
    if (!this.canManage(r)) throw new Error('no permission: only the owner or an admin can set the announcement')
    r.announce = text
  }

  async roomAvatar (_roomId) {
    return FileBox.fromBase64('', 'avatar.jpg')
  }

  async roomQRCode (roomId) {
    return `qrcode://${roomId}`
  }

  // ---- invitations and friendships

  async roomInvitationRawPayload (id) {
    const p = this.invitations.get(id)
    if (!p) throw new Error(`room invitation ${id} not found`)
    return p
  }

  async roomInvitationPayload (id, newPayload) {
    if (newPayload) {
      this.invitations.set(id, newPayload)
      return
    }
    const p = await this.roomInvitationRawPayload(id)
    const { roomId: _r, accepted: _a, ...pub } = p
    return pub
  }

  async roomInvitationAccept (id) {
    const me = this.requireLogin()
    const p = await this.roomInvitationRawPayload(id)
    if (p.accepted) return
    p.accepted = true
    const added = this.addMembers(p.roomId, [me], p.inviterId)
    if (added.length) setImmediate(() => this.emitJoin(p.roomId, [me], p.inviterId))
  }

  async friendshipRawPayload (id) {
    const p = this.friendships.get(id)
    if (!p) throw new Error(`friendship ${id} not found`)
    return p
  }

  async friendshipPayload (id, newPayload) {
    if (newPayload) {
      this.friendships.set(id, newPayload)
      return
    }
    return { ...(await this.friendshipRawPayload(id)) }
  }

  async friendshipAccept (id) {
    this.requireLogin()
    const p = await this.friendshipRawPayload(id)
    if (p.type !== PUPPET.types.Friendship.Receive) throw new Error(`friendship ${id} is not a request`)
    if (p.accepted) return
    p.accepted = true
    this.mocker.contactPayload(p.contactId).friend = true
    const confirm = {
      id: this.nextId('fr'),
      contactId: p.contactId,
      hello: '',
      type: PUPPET.types.Friendship.Confirm,
      timestamp: Date.now(),
    }
    this.friendships.set(confirm.id, confirm)
    setImmediate(() => this.emit('friendship', { friendshipId: confirm.id }))
  }

  async friendshipAdd (contactId, options) {
    this.requireLogin()
    this.ensureContact(contactId)
    // The request waits for the contact's answer: recorded, not a friend yet.
    const hello = typeof options === 'string' ? options : (options?.hello || '')
    const id = this.nextId('fr')
    this.friendships.set(id, {
      id,
      contactId,
      hello,
      type: PUPPET.types.Friendship.Verify,
      timestamp: Date.now(),
    })
    this.friendRequests.push({ id, contactId, hello })
  }

  async friendshipSearchPhone (_phone) { return null }
  async friendshipSearchHandle (_handle) { return null }

  async contactAlias (contactId, alias) {
    const c = this.mocker.contactPayload(contactId)
    if (alias === undefined) return c.alias || ''
    c.alias = alias || ''
  }
}

function fileMessageType (fileBox) {
  const name = (fileBox.name || '').toLowerCase()
  const mt = fileBox.mediaType || ''
  if (/^image\//.test(mt) || /\.(jpe?g|png|gif|bmp|webp)$/.test(name)) return MT.Image
  if (/^video\//.test(mt) || /\.mp4$/.test(name)) return MT.Video
  if (/\.(silk|sil|amr|mp3)$/.test(name)) return MT.Audio
  return MT.Attachment
}

// ------------------------------------------------------------- commands

const mocker = new mock.Mocker()
const puppet = new StatefulPuppet({ mocker, timeoutSeconds: 24 * 3600 })

let server = null

function need (args, ...keys) {
  for (const k of keys) {
    if (args[k] === undefined || args[k] === null) throw new Error(`missing argument "${k}"`)
  }
}

function memberCheck (roomId, id) {
  const r = puppet.room(roomId)
  if (!r.memberIdList.includes(id)) throw new Error(`${id} is not a member of ${roomId}`)
}

// A message from a contact: in a room (`room`) or a direct one (`to` omitted → the bot).
function incoming (a, type, extra, attachment) {
  need(a, 'from')
  puppet.ensureContact(a.from)
  const conv = {}
  if (a.room) {
    memberCheck(a.room, a.from)
    conv.roomId = a.room
  } else {
    conv.listenerId = a.to || puppet.selfId
  }
  return puppet.postMessage({ talkerId: a.from, type, ...conv, ...extra }, attachment)
}

const commands = {
  ping: () => 'pong',

  setup (a) {
    need(a, 'user')
    puppet.setupUserId = a.user.id
    puppet.ensureContact({ ...a.user, friend: false })
    for (const c of a.contacts || []) puppet.ensureContact(c)
    for (const r of a.rooms || []) puppet.ensureRoom(r)
    return { contacts: mocker.cacheContactPayload.size, rooms: mocker.cacheRoomPayload.size }
  },

  login (a) {
    const user = a.user || { id: puppet.setupUserId }
    if (!user.id) throw new Error('login before setup')
    puppet.ensureContact(user)
    puppet.loginUser = user
    return { loggedIn: puppet.doLogin() || puppet.isLoggedIn, started: puppet.isActive() }
  },

  async logout (a) {
    puppet.loginUser = null
    await PuppetMock.prototype.logout.call(puppet, a.reason || 'peer logout')
    return true
  },

  scan (a) {
    mocker.scan(a.qrcode || 'https://login.weixin.qq.com/l/peer', a.status ?? PUPPET.types.ScanStatus.Waiting)
    return true
  },

  say (a) {
    need(a, 'text')
    // `timestamp` (ms): a message the puppet dates otherwise than now (e.g. tomorrow)
    const when = a.timestamp ? { timestamp: a.timestamp } : {}
    return incoming(a, MT.Text, { text: a.text, mentionIdList: a.mentions || [], ...when })
  },

  // A quote reply (引用) of stored message `quote`: `form` 'text' as padlocal and
  // wechat4u deliver it (a Text, only the quoted sender's name), 'xml' as the
  // raw type-57 appmsg (typed Unknown, the sender's id in <chatusr>).
  send_quote (a) {
    need(a, 'quote', 'text')
    const q = puppet.mocker.messagePayload(a.quote)
    const who = q.talkerId
    const name = (puppet.mocker.contactPayload(who) || {}).name || who
    const esc = v => String(v ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    if ((a.form || 'text') === 'text') {
      const text = `「${name}：${q.text || ''}」\n- - - - - - - - - - - - - - -\n${a.text}`
      return incoming(a, MT.Text, { text, mentionIdList: [] })
    }
    const xml = `<?xml version="1.0"?>\n<msg><appmsg appid="" sdkver="0"><title>${esc(a.text)}</title>` +
      `<type>57</type><refermsg><type>1</type><svrid>${esc(a.quote)}</svrid>` +
      `<fromusr>${esc(q.roomId || who)}</fromusr><chatusr>${esc(q.roomId ? who : '')}</chatusr>` +
      `<displayname>${esc(name)}</displayname><content>${esc(q.text)}</content></refermsg></appmsg></msg>`
    return incoming(a, MT.Unknown, { text: xml, mentionIdList: [] })
  },

  send_link (a) {
    need(a, 'url', 'title')
    const url = { url: a.url, title: a.title, description: a.description || '', thumbnailUrl: a.thumbnailUrl || '' }
    return incoming(a, MT.Url, { text: a.title }, { url })
  },

  send_mini_program (a) {
    need(a, 'appid', 'title')
    const miniProgram = {
      appid: a.appid,
      title: a.title,
      pagePath: a.pagePath || '',
      description: a.description || '',
      username: a.username || '',
      thumbUrl: a.thumbUrl || '',
      iconUrl: a.iconUrl || '',
    }
    return incoming(a, MT.MiniProgram, { text: a.title }, { miniProgram })
  },

  send_card (a) {
    need(a, 'contactId')
    puppet.ensureContact(a.contactId)
    return incoming(a, MT.Contact, {}, { contactId: a.contactId })
  },

  send_image (a) {
    need(a, 'base64')
    const fileBox = FileBox.fromBase64(a.base64, a.name || 'image.jpg')
    return incoming(a, MT.Image, { filename: fileBox.name }, { fileBox })
  },

  send_file (a) {
    need(a, 'base64')
    const fileBox = FileBox.fromBase64(a.base64, a.name || 'file.dat')
    const type = a.kind ? MT[a.kind] : fileMessageType(fileBox)
    if (type === undefined) throw new Error(`unknown message kind ${a.kind}`)
    return incoming(a, type, { filename: fileBox.name }, { fileBox })
  },

  join (a) {
    need(a, 'room', 'members')
    const ids = a.members.map(m => (typeof m === 'string' ? m : (puppet.ensureContact(m), m.id)))
    const inviter = a.inviter ?? null
    if (inviter) puppet.ensureContact(inviter)
    const added = puppet.addMembers(a.room, ids, inviter)
    const payload = puppet.emitJoin(a.room, ids, inviter)
    return { added, payload }
  },

  leave (a) {
    need(a, 'room', 'members')
    puppet.removeMembers(a.room, a.members)
    return puppet.emitLeave(a.room, a.members, a.remover || a.members[0])
  },

  leave_silently (a) {
    need(a, 'room', 'member')
    puppet.removeMembers(a.room, [a.member])
    return true
  },

  set_topic (a) {
    need(a, 'room', 'topic', 'by')
    const r = puppet.room(a.room)
    const oldTopic = r.topic
    r.topic = a.topic
    puppet.emit('room-topic', { changerId: a.by, newTopic: a.topic, oldTopic, roomId: a.room, timestamp: Date.now() })
    return true
  },

  set_room (a) {
    // Direct state edit, no event (owner / admins / announce / topic).
    need(a, 'room')
    const r = puppet.room(a.room)
    if (a.ownerId !== undefined) r.ownerId = a.ownerId || undefined
    if (a.adminIds !== undefined) r.adminIdList = [...a.adminIds]
    if (a.announce !== undefined) r.announce = a.announce
    if (a.topic !== undefined) r.topic = a.topic
    return true
  },

  room_invite (a) {
    need(a, 'inviter', 'room')
    puppet.ensureContact(a.inviter)
    const r = puppet.ensureRoom({ ...a.room, memberIds: a.room.memberIds || [a.inviter] })
    const id = puppet.nextId('invite')
    puppet.invitations.set(id, {
      id,
      inviterId: a.inviter,
      topic: r.topic,
      avatar: '',
      invitation: '',
      memberCount: r.memberIdList.length,
      memberIdList: [...r.memberIdList],
      timestamp: Date.now(),
      receiverId: puppet.selfId,
      roomId: r.id,
    })
    puppet.emit('room-invite', { roomInvitationId: id })
    return id
  },

  friend_request (a) {
    need(a, 'contactId')
    puppet.ensureContact({ id: a.contactId, name: a.name || a.contactId, friend: false })
    const id = puppet.nextId('fr')
    puppet.friendships.set(id, {
      id,
      contactId: a.contactId,
      hello: a.hello || '',
      type: PUPPET.types.Friendship.Receive,
      scene: PUPPET.types.FriendshipScene.Weixin,
      stranger: a.contactId,
      ticket: `ticket-${id}`,
      timestamp: Date.now(),
    })
    puppet.emit('friendship', { friendshipId: id })
    return id
  },

  emit (a) {
    // Raw puppet event, e.g. {event: 'error', payload: {...}} to reproduce defect 1.
    need(a, 'event')
    puppet.emit(a.event, a.payload ?? {})
    return true
  },

  replay (a) {
    // The last payload emitted for `event` (a join, a leave, a login...), emitted
    // again unchanged: a gateway replaying an event after a reconnect.
    need(a, 'event')
    if (!puppet.lastEmitted.has(a.event)) throw new Error(`no ${a.event} event emitted yet`)
    const payload = puppet.lastEmitted.get(a.event)
    puppet.emit(a.event, payload)
    return payload
  },

  heartbeat (a) {
    puppet.emit('heartbeat', { data: a.data || 'peer heartbeat' })
    return true
  },

  fail (a) {
    need(a, 'method')
    const times = a.times ?? 1
    if (times <= 0) failures.delete(a.method)
    else failures.set(a.method, { times, error: a.error || 'peer injected failure' })
    return true
  },

  message (a) {
    need(a, 'id')
    return { ...mocker.messagePayload(a.id), attachment: describe(puppet.attachments.get(a.id) || null) }
  },

  state () {
    const rooms = {}
    for (const r of mocker.cacheRoomPayload.values()) {
      rooms[r.id] = {
        topic: r.topic,
        announce: r.announce || '',
        ownerId: r.ownerId || null,
        adminIds: [...(r.adminIdList || [])],
        memberIds: [...r.memberIdList],
      }
    }
    const contacts = {}
    for (const c of mocker.cacheContactPayload.values()) {
      contacts[c.id] = { name: c.name, alias: c.alias || '', friend: !!c.friend }
    }
    return {
      started: puppet.isActive(),
      loggedIn: puppet.isLoggedIn,
      // `login` was commanded: the user logs in (again) on every puppet start
      loginPending: !!puppet.loginUser && !puppet.isLoggedIn,
      // how many times the user logged in (a new login = a new scan on a real account)
      logins: puppet.logins || 0,
      userId: puppet.selfId || null,
      rooms,
      contacts,
      friendRequests: [...puppet.friendRequests],
    }
  },

  calls: () => calls,

  reset_calls () {
    calls.length = 0
    return true
  },

  async shutdown () {
    setTimeout(() => shutdown(0), 10)
    return true
  },
}

async function handle (line) {
  let msg
  try {
    msg = JSON.parse(line)
  } catch (e) {
    out({ id: null, ok: false, error: `bad json: ${e.message}` })
    return
  }
  const { id, cmd, ...args } = msg
  const fn = commands[cmd]
  if (!fn) {
    out({ id, ok: false, error: `unknown command ${cmd}` })
    return
  }
  try {
    const result = await fn(args)
    out({ id, ok: true, result: result ?? null })
  } catch (e) {
    out({ id, ok: false, error: String(e?.message || e) })
  }
}

// ----------------------------------------------------------------- main

let closing = false
async function shutdown (code) {
  if (closing) return
  closing = true
  try {
    if (server) await server.stop()
  } catch (e) {
    console.error('peer: server.stop failed', e)
  }
  process.exit(code)
}

process.on('SIGTERM', () => shutdown(0))
process.on('SIGINT', () => shutdown(0))
process.on('unhandledRejection', e => console.error('peer: unhandled rejection', e))
// A puppet `error` event with no listener would throw: log it instead.
puppet.on('error', e => console.error('peer: puppet error event', e))

server = new PuppetServer({
  endpoint: `127.0.0.1:${opts.port}`,
  puppet,
  token: opts.token,
  tls: { disable: true },
})
try {
  await server.start()
} catch (e) {
  console.error('peer: cannot start the puppet server:', e)
  process.exit(1)
}

// Commands are handled one at a time, in order.
let chain = Promise.resolve()
const rl = readline.createInterface({ input: process.stdin })
rl.on('line', line => {
  if (!line.trim()) return
  chain = chain.then(() => handle(line))
})
// The driver went away: do not linger.
rl.on('close', () => chain.then(() => shutdown(0)))

out({ type: 'ready', port: Number(opts.port) })
