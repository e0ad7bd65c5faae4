//! The public T-Library tables: message types and attributes by number (genesys_wire.md
//! §4.2 and §4.3, confidence (a): the T-Library 7.1 SDK header `tlib_ext.h` with its anchor
//! comments, and the 8.0 additions 180-182), and the enums of §4.4. These are facts; how the
//! values travel on the wire is not, and lives in the wire profile (`profile.rs`).

use std::fmt;

/// A T-Library message type. Unknown numbers are kept (`Display` prints `Unknown(0x..)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u32);

/// A T-Library attribute id. Unknown ids are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeId(pub u32);

impl MessageType {
    pub const REQUEST_REGISTER_CLIENT: Self = Self(0);
    pub const REQUEST_QUERY_SERVER: Self = Self(1);
    pub const REQUEST_QUERY_ADDRESS: Self = Self(2);
    pub const REQUEST_REGISTER_ADDRESS: Self = Self(3);
    pub const REQUEST_UNREGISTER_ADDRESS: Self = Self(4);
    pub const REQUEST_REGISTER_ALL: Self = Self(5);
    pub const REQUEST_UNREGISTER_ALL: Self = Self(6);
    pub const REQUEST_SET_INPUT_MASK: Self = Self(7);
    pub const REQUEST_AGENT_LOGIN: Self = Self(8);
    pub const REQUEST_AGENT_LOGOUT: Self = Self(9);
    pub const REQUEST_AGENT_READY: Self = Self(10);
    pub const REQUEST_AGENT_NOT_READY: Self = Self(11);
    pub const REQUEST_SET_DND_ON: Self = Self(12);
    pub const REQUEST_SET_DND_OFF: Self = Self(13);
    pub const REQUEST_MAKE_CALL: Self = Self(14);
    pub const REQUEST_MAKE_PREDICTIVE_CALL: Self = Self(15);
    pub const REQUEST_ANSWER_CALL: Self = Self(16);
    pub const REQUEST_RELEASE_CALL: Self = Self(17);
    pub const REQUEST_HOLD_CALL: Self = Self(18);
    pub const REQUEST_RETRIEVE_CALL: Self = Self(19);
    pub const REQUEST_INITIATE_CONFERENCE: Self = Self(20);
    pub const REQUEST_COMPLETE_CONFERENCE: Self = Self(21);
    pub const REQUEST_DELETE_FROM_CONFERENCE: Self = Self(22);
    pub const REQUEST_INITIATE_TRANSFER: Self = Self(23);
    pub const REQUEST_MUTE_TRANSFER: Self = Self(24);
    pub const REQUEST_SINGLE_STEP_TRANSFER: Self = Self(25);
    pub const REQUEST_COMPLETE_TRANSFER: Self = Self(26);
    pub const REQUEST_MERGE_CALLS: Self = Self(27);
    pub const REQUEST_ALTERNATE_CALL: Self = Self(28);
    pub const REQUEST_RECONNECT_CALL: Self = Self(29);
    pub const REQUEST_ATTACH_USER_DATA: Self = Self(30);
    pub const REQUEST_UPDATE_USER_DATA: Self = Self(31);
    pub const REQUEST_DELETE_USER_DATA: Self = Self(32);
    pub const REQUEST_DELETE_PAIR: Self = Self(33);
    pub const REQUEST_CALL_FORWARD_SET: Self = Self(34);
    pub const REQUEST_CALL_FORWARD_CANCEL: Self = Self(35);
    pub const REQUEST_ROUTE_CALL: Self = Self(36);
    pub const REQUEST_GIVE_MUSIC_TREATMENT: Self = Self(37);
    pub const REQUEST_GIVE_SILENCE_TREATMENT: Self = Self(38);
    pub const REQUEST_GIVE_RING_BACK_TREATMENT: Self = Self(39);
    pub const REQUEST_LOGIN_MAIL_BOX: Self = Self(40);
    pub const REQUEST_LOGOUT_MAIL_BOX: Self = Self(41);
    pub const REQUEST_OPEN_VOICE_FILE: Self = Self(42);
    pub const REQUEST_CLOSE_VOICE_FILE: Self = Self(43);
    pub const REQUEST_PLAY_VOICE_FILE: Self = Self(44);
    pub const REQUEST_COLLECT_DIGITS: Self = Self(45);
    pub const REQUEST_SET_MESSAGE_WAITING_ON: Self = Self(46);
    pub const REQUEST_SET_MESSAGE_WAITING_OFF: Self = Self(47);
    pub const REQUEST_DISTRIBUTE_USER_EVENT: Self = Self(48);
    pub const REQUEST_DISTRIBUTE_EVENT: Self = Self(49);
    pub const EVENT_SERVER_CONNECTED: Self = Self(50);
    pub const EVENT_SERVER_DISCONNECTED: Self = Self(51);
    pub const EVENT_ERROR: Self = Self(52);
    pub const EVENT_REGISTERED: Self = Self(53);
    pub const EVENT_UNREGISTERED: Self = Self(54);
    pub const EVENT_REGISTERED_ALL: Self = Self(55);
    pub const EVENT_UNREGISTERED_ALL: Self = Self(56);
    pub const EVENT_QUEUED: Self = Self(57);
    pub const EVENT_DIVERTED: Self = Self(58);
    pub const EVENT_ABANDONED: Self = Self(59);
    pub const EVENT_RINGING: Self = Self(60);
    pub const EVENT_DIALING: Self = Self(61);
    pub const EVENT_NETWORK_REACHED: Self = Self(62);
    pub const EVENT_DESTINATION_BUSY: Self = Self(63);
    pub const EVENT_ESTABLISHED: Self = Self(64);
    pub const EVENT_RELEASED: Self = Self(65);
    pub const EVENT_HELD: Self = Self(66);
    pub const EVENT_RETRIEVED: Self = Self(67);
    pub const EVENT_PARTY_CHANGED: Self = Self(68);
    pub const EVENT_PARTY_ADDED: Self = Self(69);
    pub const EVENT_PARTY_DELETED: Self = Self(70);
    pub const EVENT_ROUTE_REQUEST: Self = Self(71);
    pub const EVENT_ROUTE_USED: Self = Self(72);
    pub const EVENT_AGENT_LOGIN: Self = Self(73);
    pub const EVENT_AGENT_LOGOUT: Self = Self(74);
    pub const EVENT_AGENT_READY: Self = Self(75);
    pub const EVENT_AGENT_NOT_READY: Self = Self(76);
    pub const EVENT_DND_ON: Self = Self(77);
    pub const EVENT_DND_OFF: Self = Self(78);
    pub const EVENT_MAIL_BOX_LOGIN: Self = Self(79);
    pub const EVENT_MAIL_BOX_LOGOUT: Self = Self(80);
    pub const EVENT_VOICE_FILE_OPENED: Self = Self(81);
    pub const EVENT_VOICE_FILE_CLOSED: Self = Self(82);
    pub const EVENT_VOICE_FILE_END_PLAY: Self = Self(83);
    pub const EVENT_DIGITS_COLLECTED: Self = Self(84);
    pub const EVENT_ATTACHED_DATA_CHANGED: Self = Self(85);
    pub const EVENT_OFF_HOOK: Self = Self(86);
    pub const EVENT_ON_HOOK: Self = Self(87);
    pub const EVENT_FORWARD_SET: Self = Self(88);
    pub const EVENT_FORWARD_CANCEL: Self = Self(89);
    pub const EVENT_MESSAGE_WAITING_ON: Self = Self(90);
    pub const EVENT_MESSAGE_WAITING_OFF: Self = Self(91);
    pub const EVENT_ADDRESS_INFO: Self = Self(92);
    pub const EVENT_SERVER_INFO: Self = Self(93);
    pub const EVENT_LINK_DISCONNECTED: Self = Self(94);
    pub const EVENT_LINK_CONNECTED: Self = Self(95);
    pub const EVENT_USER_EVENT: Self = Self(96);
    pub const REQUEST_SEND_DTMF: Self = Self(97);
    pub const EVENT_DTMF_SENT: Self = Self(98);
    pub const EVENT_RESOURCE_ALLOCATED: Self = Self(99);
    pub const EVENT_RESOURCE_FREED: Self = Self(100);
    pub const EVENT_REMOTE_CONNECTION_SUCCESS: Self = Self(101);
    pub const EVENT_REMOTE_CONNECTION_FAILED: Self = Self(102);
    pub const REQUEST_REDIRECT_CALL: Self = Self(103);
    pub const REQUEST_LISTEN_DISCONNECT: Self = Self(104);
    pub const REQUEST_LISTEN_RECONNECT: Self = Self(105);
    pub const EVENT_LISTEN_DISCONNECTED: Self = Self(106);
    pub const EVENT_LISTEN_RECONNECTED: Self = Self(107);
    pub const REQUEST_QUERY_CALL: Self = Self(108);
    pub const EVENT_PARTY_INFO: Self = Self(109);
    pub const REQUEST_CLEAR_CALL: Self = Self(110);
    pub const REQUEST_SET_CALL_INFO: Self = Self(111);
    pub const EVENT_CALL_INFO_CHANGED: Self = Self(112);
    pub const REQUEST_APPLY_TREATMENT: Self = Self(113);
    pub const EVENT_TREATMENT_APPLIED: Self = Self(114);
    pub const EVENT_TREATMENT_NOT_APPLIED: Self = Self(115);
    pub const EVENT_TREATMENT_END: Self = Self(116);
    pub const EVENT_HARDWARE_ERROR: Self = Self(117);
    pub const EVENT_AGENT_AFTER_CALL_WORK: Self = Self(118);
    pub const EVENT_TREATMENT_REQUIRED: Self = Self(119);
    pub const REQUEST_SINGLE_STEP_CONFERENCE: Self = Self(120);
    pub const REQUEST_QUERY_SWITCH: Self = Self(121);
    pub const EVENT_SWITCH_INFO: Self = Self(122);
    pub const REQUEST_GET_ACCESS_NUMBER: Self = Self(123);
    pub const REQUEST_CANCEL_REQ_GET_ACCESS_NUMBER: Self = Self(124);
    pub const EVENT_ANSWER_ACCESS_NUMBER: Self = Self(125);
    pub const EVENT_REQ_GET_ACCESS_NUMBER_CANCELED: Self = Self(126);
    pub const REQUEST_RESERVE_AGENT: Self = Self(127);
    pub const EVENT_AGENT_RESERVED: Self = Self(128);
    pub const REQUEST_RESERVE_AGENT_AND_GET_ACCESS_NUMBER: Self = Self(129);
    pub const REQUEST_AGENT_SET_IDLE_REASON: Self = Self(130);
    pub const EVENT_AGENT_IDLE_REASON_SET: Self = Self(131);
    pub const EVENT_RESTORE_CONNECTION: Self = Self(132);
    pub const EVENT_PRIMARY_CHANGED: Self = Self(133);
    pub const REQUEST_LOST_BACKUP_CONNECTION: Self = Self(134);
    pub const REQUEST_SET_DN_INFO: Self = Self(135);
    pub const REQUEST_QUERY_LOCATION: Self = Self(136);
    pub const EVENT_LOCATION_INFO: Self = Self(137);
    pub const EVENT_ACK: Self = Self(138);
    pub const REQUEST_MONITOR_NEXT_CALL: Self = Self(139);
    pub const REQUEST_CANCEL_MONITORING: Self = Self(140);
    pub const EVENT_MONITORING_NEXT_CALL: Self = Self(141);
    pub const EVENT_MONITORING_CANCELLED: Self = Self(142);
    pub const REQUEST_SET_MUTE_ON: Self = Self(143);
    pub const REQUEST_SET_MUTE_OFF: Self = Self(144);
    pub const EVENT_MUTE_ON: Self = Self(145);
    pub const EVENT_MUTE_OFF: Self = Self(146);
    pub const EVENT_DN_OUT_OF_SERVICE: Self = Self(147);
    pub const EVENT_DN_BACK_IN_SERVICE: Self = Self(148);
    pub const REQUEST_PRIVATE_SERVICE: Self = Self(149);
    pub const EVENT_PRIVATE_INFO: Self = Self(150);
    pub const EVENT_BRIDGED: Self = Self(151);
    pub const EVENT_QUEUE_LOGOUT: Self = Self(152);
    pub const EVENT_RESERVED_1: Self = Self(153);
    pub const EVENT_RESERVED_2: Self = Self(154);
    pub const EVENT_RESERVED_3: Self = Self(155);
    pub const EVENT_RESERVED_4: Self = Self(156);
    pub const EVENT_RESERVED_5: Self = Self(157);
    pub const EVENT_RESERVED_6: Self = Self(158);
    pub const EVENT_RESERVED_7: Self = Self(159);
    pub const EVENT_CALL_CREATED: Self = Self(160);
    pub const EVENT_CALL_DATA_CHANGED: Self = Self(161);
    pub const EVENT_CALL_DELETED: Self = Self(162);
    pub const EVENT_CALL_PARTY_ADDED: Self = Self(163);
    pub const EVENT_CALL_PARTY_STATE: Self = Self(164);
    pub const EVENT_CALL_PARTY_MOVED: Self = Self(165);
    pub const EVENT_CALL_PARTY_DELETED: Self = Self(166);
    pub const REQUEST_START_CALL_MONITORING: Self = Self(167);
    pub const REQUEST_STOP_CALL_MONITORING: Self = Self(168);
    pub const REQUEST_SEND_RETURN_RECEIPT: Self = Self(169);
    pub const EVENT_RETURN_RECEIPT: Self = Self(170);
    pub const REQUEST_NETWORK_CONSULT: Self = Self(171);
    pub const REQUEST_NETWORK_ALTERNATE: Self = Self(172);
    pub const REQUEST_NETWORK_TRANSFER: Self = Self(173);
    pub const REQUEST_NETWORK_MERGE: Self = Self(174);
    pub const REQUEST_NETWORK_RECONNECT: Self = Self(175);
    pub const REQUEST_NETWORK_SINGLE_STEP_TRANSFER: Self = Self(176);
    pub const REQUEST_NETWORK_PRIVATE_SERVICE: Self = Self(177);
    pub const EVENT_NETWORK_CALL_STATUS: Self = Self(178);
    pub const EVENT_NETWORK_PRIVATE_INFO: Self = Self(179);
    pub const REQUEST_TRANSACTION_MONITORING: Self = Self(180);
    pub const EVENT_TRANSACTION_STATUS: Self = Self(181);
    pub const EVENT_RESOURCE_INFO: Self = Self(182);

    /// The name from the public table, if the number is in it.
    pub fn name(self) -> Option<&'static str> {
        MESSAGE_NAMES.get(self.0 as usize).copied().filter(|n| !n.is_empty())
    }

    /// Requests go from a client to the server; everything else is an event from the server.
    pub fn is_request(self) -> bool {
        self.name().is_some_and(|n| n.starts_with("Request"))
    }

    pub fn by_name(name: &str) -> Option<Self> {
        MESSAGE_NAMES.iter().position(|n| *n == name).map(|i| Self(i as u32))
    }
}

impl AttributeId {
    pub const PROTOCOL_VERSION: Self = Self(0);
    pub const ERROR_MESSAGE: Self = Self(1);
    pub const REFERENCE_ID: Self = Self(2);
    pub const CALL_ID: Self = Self(3);
    pub const NODE_ID: Self = Self(4);
    pub const NETWORK_CALL_ID: Self = Self(5);
    pub const NETWORK_NODE_ID: Self = Self(6);
    pub const TRANSFERRED_NETWORK_CALL_ID: Self = Self(7);
    pub const TRANSFERRED_NETWORK_NODE_ID: Self = Self(8);
    pub const CONN_ID: Self = Self(9);
    pub const PREVIOUS_CONN_ID: Self = Self(10);
    pub const TRANSFER_CONN_ID: Self = Self(11);
    pub const CONFERENCE_CONN_ID: Self = Self(12);
    pub const CALL_STATE: Self = Self(13);
    pub const AGENT_ID: Self = Self(14);
    pub const AGENT_STATE_REASON_UNUSED: Self = Self(15);
    pub const AGENT_WORK_MODE: Self = Self(16);
    pub const REASON: Self = Self(17);
    pub const DNIS: Self = Self(18);
    pub const ANI: Self = Self(19);
    pub const THIS_DN: Self = Self(20);
    pub const THIS_QUEUE: Self = Self(21);
    pub const THIS_TRUNK: Self = Self(22);
    pub const THIS_DN_ROLE: Self = Self(23);
    pub const OTHER_DN: Self = Self(24);
    pub const OTHER_QUEUE: Self = Self(25);
    pub const OTHER_TRUNK: Self = Self(26);
    pub const OTHER_DN_ROLE: Self = Self(27);
    pub const THIRD_PARTY_DN: Self = Self(28);
    pub const THIRD_PARTY_QUEUE: Self = Self(29);
    pub const THIRD_PARTY_TRUNK: Self = Self(30);
    pub const THIRD_PARTY_DN_ROLE: Self = Self(31);
    pub const MUSIC_PATH: Self = Self(32);
    pub const VOICE_FILE_NAME: Self = Self(33);
    pub const FILE_HANDLE: Self = Self(34);
    pub const USER_ID: Self = Self(35);
    pub const PASSWORD: Self = Self(36);
    pub const VOICE_SEGMENT: Self = Self(37);
    pub const VOICE_I_FLAG: Self = Self(38);
    pub const VOICE_C_FLAG: Self = Self(39);
    pub const NUMBER_OF_DIGITS: Self = Self(40);
    pub const TERMINATE_DIGITS: Self = Self(41);
    pub const TIMEOUT: Self = Self(42);
    pub const COLLECTED_DIGITS: Self = Self(43);
    pub const LAST_DIGIT: Self = Self(44);
    pub const INPUT_MASK: Self = Self(45);
    pub const ERROR_CODE: Self = Self(46);
    pub const ADDRESS_TYPE: Self = Self(47);
    pub const ADDRESS_MODE: Self = Self(48);
    pub const REGISTER_MODE: Self = Self(49);
    pub const CONTROL_MODE: Self = Self(50);
    pub const USER_DATA: Self = Self(51);
    pub const DATA_KEY: Self = Self(52);
    pub const EXTENSIONS: Self = Self(53);
    pub const CALL_TYPE: Self = Self(54);
    pub const CALLING_LINE_NAME: Self = Self(55);
    pub const ADDRESS_INFO_TYPE: Self = Self(56);
    pub const ADDRESS_INFO_STATUS: Self = Self(57);
    pub const USER_EVENT: Self = Self(58);
    pub const COMMUNICATION_DN: Self = Self(59);
    pub const ROUTE_TYPE: Self = Self(60);
    pub const SERVER_VERSION: Self = Self(61);
    pub const SERVER_ROLE: Self = Self(62);
    pub const SERVER_CAPABILITY_MASK: Self = Self(63);
    pub const APPLICATION_NAME: Self = Self(64);
    pub const APPLICATION_PASSWORD: Self = Self(65);
    pub const MERGE_TYPE: Self = Self(66);
    pub const FORWARD_MODE: Self = Self(67);
    pub const DTMF_DIGITS: Self = Self(68);
    pub const LOCATION: Self = Self(69);
    pub const REMOTE_LOCATION: Self = Self(70);
    pub const REMOTE_CONN_ID: Self = Self(71);
    pub const REMOTE_DN: Self = Self(72);
    pub const MAKE_CALL_TYPE: Self = Self(73);
    pub const CALL_INFO_TYPE: Self = Self(74);
    pub const HOME_LOCATION: Self = Self(75);
    pub const CUSTOMER_ID: Self = Self(76);
    pub const FIRST_TRANSFER_HOME_LOCATION: Self = Self(77);
    pub const FIRST_TRANSFER_ORIG_DN: Self = Self(78);
    pub const LAST_TRANSFER_HOME_LOCATION: Self = Self(79);
    pub const LAST_TRANSFER_ORIG_DN: Self = Self(80);
    pub const SET_OPERATION: Self = Self(81);
    pub const NEW_CONN_ID: Self = Self(82);
    pub const TREATMENT_TYPE: Self = Self(83);
    pub const TREATMENT_PARMS: Self = Self(84);
    pub const CLID: Self = Self(85);
    pub const TIMEIN_SECS: Self = Self(86);
    pub const TIMEINU_SECS: Self = Self(87);
    pub const SWITCH_INFO_TYPE: Self = Self(88);
    pub const X_ROUTE_TYPE: Self = Self(89);
    pub const ACCESS_NUMBER: Self = Self(90);
    pub const X_REFERENCE_ID: Self = Self(91);
    pub const PLACE: Self = Self(92);
    pub const PRIORITY: Self = Self(93);
    pub const AGENT_IDLE_REASON: Self = Self(94);
    pub const REGISTRATION_CODE: Self = Self(95);
    pub const DN_SYNC_INFO: Self = Self(96);
    pub const MEDIA_TYPE: Self = Self(97);
    pub const LOCATION_INFO_TYPE: Self = Self(98);
    pub const ORIGINAL_CONN_ID: Self = Self(99);
    pub const CONSULT_TYPE: Self = Self(100);
    pub const MONITOR_NEXT_CALL_TYPE: Self = Self(101);
    pub const CLIENT_ID: Self = Self(102);
    pub const PROTOCOL_ID: Self = Self(103);
    pub const PREVIOUS_CALL_ID: Self = Self(104);
    pub const PRIVATE_MSG_ID: Self = Self(105);
    pub const FIRST_TRANSFER_CONN_ID: Self = Self(106);
    pub const LAST_TRANSFER_CONN_ID: Self = Self(107);
    pub const SESSION_ID: Self = Self(108);
    pub const HOST: Self = Self(109);
    pub const PORT: Self = Self(110);
    pub const DBID: Self = Self(111);
    pub const OTHER_DBID: Self = Self(112);
    pub const THIRD_PARTY_DBID: Self = Self(113);
    pub const CAUSE: Self = Self(114);
    pub const DN: Self = Self(115);
    pub const DIALED_NUMBER: Self = Self(116);
    pub const ORIGIN_CONN_ID: Self = Self(117);
    pub const REF_CONN_ID: Self = Self(118);
    pub const RELIABILITY: Self = Self(119);
    pub const TIME_STAMP: Self = Self(120);
    pub const SWITCH_TIME: Self = Self(121);
    pub const PARTY_ID: Self = Self(122);
    pub const PARTY_TYPE: Self = Self(123);
    pub const PARTY_STATE: Self = Self(124);
    pub const REF_PARTY: Self = Self(125);
    pub const CTRL_PARTY: Self = Self(126);
    pub const REMOTE_LOC: Self = Self(127);
    pub const REMOTE_PARTY: Self = Self(128);
    pub const DEVICE: Self = Self(129);
    pub const RESERVED_1: Self = Self(130);
    pub const RESERVED_2: Self = Self(131);
    pub const UPDATE_REVISION: Self = Self(132);
    pub const RETURN_RECEIPT: Self = Self(133);
    pub const RETURN_RECEIPT_DN: Self = Self(134);
    pub const SERVER_X_CAPABILITIES: Self = Self(135);
    pub const NETWORK_CALL_STATE: Self = Self(136);
    pub const NETWORK_DEST_STATE: Self = Self(137);
    pub const NETWORK_PARTY_ROLE: Self = Self(138);
    pub const NETWORK_ORIG_DN: Self = Self(139);
    pub const NETWORK_DEST_DN: Self = Self(140);
    pub const CALL_UUID: Self = Self(141);
    pub const NEW_CALL_UUID: Self = Self(142);
    pub const ORIG_CALL_UUID: Self = Self(143);
    pub const REF_CALL_UUID: Self = Self(144);
    pub const PARTY_UUID: Self = Self(145);
    pub const IS_LINK_LIST: Self = Self(146);
    pub const SERVER_START_TIME: Self = Self(147);
    pub const EVENT_SEQUENCE_NUMBER: Self = Self(148);

    /// The name from the public table, if the id is in it.
    pub fn name(self) -> Option<&'static str> {
        ATTRIBUTE_NAMES.get(self.0 as usize).copied()
    }

    pub fn by_name(name: &str) -> Option<Self> {
        ATTRIBUTE_NAMES.iter().position(|n| *n == name).map(|i| Self(i as u32))
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Unknown({:#x})", self.0),
        }
    }
}

impl fmt::Display for AttributeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Unknown({:#x})", self.0),
        }
    }
}

/// `TMessageType` 0..=182 (§4.2); 183 is `MessageIDMAX`, not a message.
pub const MESSAGE_NAMES: [&str; 183] = [
    "RequestRegisterClient",
    "RequestQueryServer",
    "RequestQueryAddress",
    "RequestRegisterAddress",
    "RequestUnregisterAddress",
    "RequestRegisterAll",
    "RequestUnregisterAll",
    "RequestSetInputMask",
    "RequestAgentLogin",
    "RequestAgentLogout",
    "RequestAgentReady",
    "RequestAgentNotReady",
    "RequestSetDNDOn",
    "RequestSetDNDOff",
    "RequestMakeCall",
    "RequestMakePredictiveCall",
    "RequestAnswerCall",
    "RequestReleaseCall",
    "RequestHoldCall",
    "RequestRetrieveCall",
    "RequestInitiateConference",
    "RequestCompleteConference",
    "RequestDeleteFromConference",
    "RequestInitiateTransfer",
    "RequestMuteTransfer",
    "RequestSingleStepTransfer",
    "RequestCompleteTransfer",
    "RequestMergeCalls",
    "RequestAlternateCall",
    "RequestReconnectCall",
    "RequestAttachUserData",
    "RequestUpdateUserData",
    "RequestDeleteUserData",
    "RequestDeletePair",
    "RequestCallForwardSet",
    "RequestCallForwardCancel",
    "RequestRouteCall",
    "RequestGiveMusicTreatment",
    "RequestGiveSilenceTreatment",
    "RequestGiveRingBackTreatment",
    "RequestLoginMailBox",
    "RequestLogoutMailBox",
    "RequestOpenVoiceFile",
    "RequestCloseVoiceFile",
    "RequestPlayVoiceFile",
    "RequestCollectDigits",
    "RequestSetMessageWaitingOn",
    "RequestSetMessageWaitingOff",
    "RequestDistributeUserEvent",
    "RequestDistributeEvent",
    "EventServerConnected",
    "EventServerDisconnected",
    "EventError",
    "EventRegistered",
    "EventUnregistered",
    "EventRegisteredAll",
    "EventUnregisteredAll",
    "EventQueued",
    "EventDiverted",
    "EventAbandoned",
    "EventRinging",
    "EventDialing",
    "EventNetworkReached",
    "EventDestinationBusy",
    "EventEstablished",
    "EventReleased",
    "EventHeld",
    "EventRetrieved",
    "EventPartyChanged",
    "EventPartyAdded",
    "EventPartyDeleted",
    "EventRouteRequest",
    "EventRouteUsed",
    "EventAgentLogin",
    "EventAgentLogout",
    "EventAgentReady",
    "EventAgentNotReady",
    "EventDNDOn",
    "EventDNDOff",
    "EventMailBoxLogin",
    "EventMailBoxLogout",
    "EventVoiceFileOpened",
    "EventVoiceFileClosed",
    "EventVoiceFileEndPlay",
    "EventDigitsCollected",
    "EventAttachedDataChanged",
    "EventOffHook",
    "EventOnHook",
    "EventForwardSet",
    "EventForwardCancel",
    "EventMessageWaitingOn",
    "EventMessageWaitingOff",
    "EventAddressInfo",
    "EventServerInfo",
    "EventLinkDisconnected",
    "EventLinkConnected",
    "EventUserEvent",
    "RequestSendDTMF",
    "EventDTMFSent",
    "EventResourceAllocated",
    "EventResourceFreed",
    "EventRemoteConnectionSuccess",
    "EventRemoteConnectionFailed",
    "RequestRedirectCall",
    "RequestListenDisconnect",
    "RequestListenReconnect",
    "EventListenDisconnected",
    "EventListenReconnected",
    "RequestQueryCall",
    "EventPartyInfo",
    "RequestClearCall",
    "RequestSetCallInfo",
    "EventCallInfoChanged",
    "RequestApplyTreatment",
    "EventTreatmentApplied",
    "EventTreatmentNotApplied",
    "EventTreatmentEnd",
    "EventHardwareError",
    "EventAgentAfterCallWork",
    "EventTreatmentRequired",
    "RequestSingleStepConference",
    "RequestQuerySwitch",
    "EventSwitchInfo",
    "RequestGetAccessNumber",
    "RequestCancelReqGetAccessNumber",
    "EventAnswerAccessNumber",
    "EventReqGetAccessNumberCanceled",
    "RequestReserveAgent",
    "EventAgentReserved",
    "RequestReserveAgentAndGetAccessNumber",
    "RequestAgentSetIdleReason",
    "EventAgentIdleReasonSet",
    "EventRestoreConnection",
    "EventPrimaryChanged",
    "RequestLostBackupConnection",
    "RequestSetDNInfo",
    "RequestQueryLocation",
    "EventLocationInfo",
    "EventACK",
    "RequestMonitorNextCall",
    "RequestCancelMonitoring",
    "EventMonitoringNextCall",
    "EventMonitoringCancelled",
    "RequestSetMuteOn",
    "RequestSetMuteOff",
    "EventMuteOn",
    "EventMuteOff",
    "EventDNOutOfService",
    "EventDNBackInService",
    "RequestPrivateService",
    "EventPrivateInfo",
    "EventBridged",
    "EventQueueLogout",
    "EventReserved_1",
    "EventReserved_2",
    "EventReserved_3",
    "EventReserved_4",
    "EventReserved_5",
    "EventReserved_6",
    "EventReserved_7",
    "EventCallCreated",
    "EventCallDataChanged",
    "EventCallDeleted",
    "EventCallPartyAdded",
    "EventCallPartyState",
    "EventCallPartyMoved",
    "EventCallPartyDeleted",
    "RequestStartCallMonitoring",
    "RequestStopCallMonitoring",
    "RequestSendReturnReceipt",
    "EventReturnReceipt",
    "RequestNetworkConsult",
    "RequestNetworkAlternate",
    "RequestNetworkTransfer",
    "RequestNetworkMerge",
    "RequestNetworkReconnect",
    "RequestNetworkSingleStepTransfer",
    "RequestNetworkPrivateService",
    "EventNetworkCallStatus",
    "EventNetworkPrivateInfo",
    "RequestTransactionMonitoring",
    "EventTransactionStatus",
    "EventResourceInfo",
];

/// `TAttribute` 0..=148 (§4.3); 149 is `AttributeIDMAX`.
pub const ATTRIBUTE_NAMES: [&str; 149] = [
    "AttributeProtocolVersion",
    "AttributeErrorMessage",
    "AttributeReferenceID",
    "AttributeCallID",
    "AttributeNodeID",
    "AttributeNetworkCallID",
    "AttributeNetworkNodeID",
    "AttributeTransferredNetworkCallID",
    "AttributeTransferredNetworkNodeID",
    "AttributeConnID",
    "AttributePreviousConnID",
    "AttributeTransferConnID",
    "AttributeConferenceConnID",
    "AttributeCallState",
    "AttributeAgentID",
    "AttributeAgentStateReasonUnused",
    "AttributeAgentWorkMode",
    "AttributeReason",
    "AttributeDNIS",
    "AttributeANI",
    "AttributeThisDN",
    "AttributeThisQueue",
    "AttributeThisTrunk",
    "AttributeThisDNRole",
    "AttributeOtherDN",
    "AttributeOtherQueue",
    "AttributeOtherTrunk",
    "AttributeOtherDNRole",
    "AttributeThirdPartyDN",
    "AttributeThirdPartyQueue",
    "AttributeThirdPartyTrunk",
    "AttributeThirdPartyDNRole",
    "AttributeMusicPath",
    "AttributeVoiceFileName",
    "AttributeFileHandle",
    "AttributeUserID",
    "AttributePassword",
    "AttributeVoiceSegment",
    "AttributeVoiceIFlag",
    "AttributeVoiceCFlag",
    "AttributeNumberOfDigits",
    "AttributeTerminateDigits",
    "AttributeTimeout",
    "AttributeCollectedDigits",
    "AttributeLastDigit",
    "AttributeInputMask",
    "AttributeErrorCode",
    "AttributeAddressType",
    "AttributeAddressMode",
    "AttributeRegisterMode",
    "AttributeControlMode",
    "AttributeUserData",
    "AttributeDataKey",
    "AttributeExtensions",
    "AttributeCallType",
    "AttributeCallingLineName",
    "AttributeAddressInfoType",
    "AttributeAddressInfoStatus",
    "AttributeUserEvent",
    "AttributeCommunicationDN",
    "AttributeRouteType",
    "AttributeServerVersion",
    "AttributeServerRole",
    "AttributeServerCapabilityMask",
    "AttributeApplicationName",
    "AttributeApplicationPassword",
    "AttributeMergeType",
    "AttributeForwardMode",
    "AttributeDTMFDigits",
    "AttributeLocation",
    "AttributeRemoteLocation",
    "AttributeRemoteConnID",
    "AttributeRemoteDN",
    "AttributeMakeCallType",
    "AttributeCallInfoType",
    "AttributeHomeLocation",
    "AttributeCustomerID",
    "AttributeFirstTransferHomeLocation",
    "AttributeFirstTransferOrigDN",
    "AttributeLastTransferHomeLocation",
    "AttributeLastTransferOrigDN",
    "AttributeSetOperation",
    "AttributeNewConnID",
    "AttributeTreatmentType",
    "AttributeTreatmentParms",
    "AttributeCLID",
    "AttributeTimeinSecs",
    "AttributeTimeinuSecs",
    "AttributeSwitchInfoType",
    "AttributeXRouteType",
    "AttributeAccessNumber",
    "AttributeXReferenceID",
    "AttributePlace",
    "AttributePriority",
    "AttributeAgentIdleReason",
    "AttributeRegistrationCode",
    "AttributeDNSyncInfo",
    "AttributeMediaType",
    "AttributeLocationInfoType",
    "AttributeOriginalConnID",
    "AttributeConsultType",
    "AttributeMonitorNextCallType",
    "AttributeClientID",
    "AttributeProtocolID",
    "AttributePreviousCallID",
    "AttributePrivateMsgID",
    "AttributeFirstTransferConnID",
    "AttributeLastTransferConnID",
    "AttributeSessionID",
    "AttributeHost",
    "AttributePort",
    "AttributeDBID",
    "AttributeOtherDBID",
    "AttributeThirdPartyDBID",
    "AttributeCause",
    "AttributeDN",
    "AttributeDialedNumber",
    "AttributeOriginConnID",
    "AttributeRefConnID",
    "AttributeReliability",
    "AttributeTimeStamp",
    "AttributeSwitchTime",
    "AttributePartyID",
    "AttributePartyType",
    "AttributePartyState",
    "AttributeRefParty",
    "AttributeCtrlParty",
    "AttributeRemoteLoc",
    "AttributeRemoteParty",
    "AttributeDevice",
    "AttributeReserved_1",
    "AttributeReserved_2",
    "AttributeUpdateRevision",
    "AttributeReturnReceipt",
    "AttributeReturnReceiptDN",
    "AttributeServerXCapabilities",
    "AttributeNetworkCallState",
    "AttributeNetworkDestState",
    "AttributeNetworkPartyRole",
    "AttributeNetworkOrigDN",
    "AttributeNetworkDestDN",
    "AttributeCallUUID",
    "AttributeNewCallUUID",
    "AttributeOrigCallUUID",
    "AttributeRefCallUUID",
    "AttributePartyUUID",
    "AttributeISLinkList",
    "AttributeServerStartTime",
    "AttributeEventSequenceNumber",
];

/// `TCallType` (§4.4).
pub const CALL_TYPE: &[&str] = &["Unknown", "Internal", "Inbound", "Outbound", "Consult"];

/// `TCallState` 0..=31, then 49 and 50 (§4.4; 32..=53 are OCS call results from `gcti.h`).
pub const CALL_STATE: &[(i64, &str)] = &[
    (0, "Ok"),
    (1, "Transferred"),
    (2, "Conferenced"),
    (3, "GeneralError"),
    (4, "SystemError"),
    (5, "RemoteRelease"),
    (6, "Busy"),
    (7, "NoAnswer"),
    (8, "SitDetected"),
    (9, "AnsweringMachineDetected"),
    (10, "AllTrunksBusy"),
    (11, "SitInvalidnum"),
    (12, "SitVacant"),
    (13, "SitIntercept"),
    (14, "SitUnknown"),
    (15, "SitNocircuit"),
    (16, "SitReorder"),
    (17, "FaxDetected"),
    (18, "QueueFull"),
    (19, "Cleared"),
    (20, "Overflowed"),
    (21, "Abandoned"),
    (22, "Redirected"),
    (23, "Forwarded"),
    (24, "Consult"),
    (25, "Pickedup"),
    (26, "Dropped"),
    (27, "Droppednoanswer"),
    (28, "Unknown"),
    (29, "Covered"),
    (30, "ConverseOn"),
    (31, "Bridged"),
    (32, "Silence"),
    (33, "Answer"),
    (34, "NuTone"),
    (35, "NoDialTone"),
    (36, "NoProgress"),
    (37, "NoRingBack"),
    (38, "NoEstablished"),
    (39, "PagerDetected"),
    (40, "WrongParty"),
    (41, "DialErr"),
    (42, "DropErr"),
    (43, "SwitchErr"),
    (44, "NoFreePortErr"),
    (45, "TransferErr"),
    (46, "Stale"),
    (47, "AgentCallBackErr"),
    (48, "GroupCallBackErr"),
    (49, "Deafened"),
    (50, "Held"),
    (51, "DoNotCall"),
    (52, "Cancel"),
    (53, "WrongNumber"),
];

/// `TDNRole` (§4.4).
pub const DN_ROLE: &[&str] = &[
    "Unknown",
    "Origination",
    "Destination",
    "ConferenceMember",
    "NewParty",
    "AddedBy",
    "DeletedBy",
    "TransferredBy",
    "DeletedParty",
    "ConferencedBy",
    "Observer",
];

/// `TAddressType` 0..=13 and 99 (§4.4).
pub const ADDRESS_TYPE: &[(i64, &str)] = &[
    (0, "Unknown"),
    (1, "DN"),
    (2, "Position"),
    (3, "Queue"),
    (4, "RouteDN"),
    (5, "Trunk"),
    (6, "VoiceChannel"),
    (7, "DataChannel"),
    (8, "Announcement"),
    (9, "ASAI"),
    (10, "ACDGroup"),
    (11, "VSP"),
    (12, "RouteQueue"),
    (13, "AgentID"),
    (99, "Other"),
];

/// `TAgentWorkMode` (§4.4).
pub const AGENT_WORK_MODE: &[&str] =
    &["Unknown", "ManualIn", "AutoIn", "AfterCallWork", "AuxWork", "NoCallDisconnect", "WalkAway", "ReturnBack"];

/// Server role in EventServerInfo (§4.1).
pub const SERVER_ROLE: &[&str] = &["Primary", "Backup"];

/// `TRouteType` (§4.4).
pub const ROUTE_TYPE: &[&str] = &[
    "Unknown",
    "Default",
    "Label",
    "OverwriteDNIS",
    "DDD",
    "IDDD",
    "Direct",
    "Reject",
    "Announcement",
    "PostFeature",
    "DirectAgent",
    "Priority",
    "DirectPriority",
    "AgentID",
    "CallDisconnect",
];

/// `TMediaType` 0..=11 (§4.4; 100 and up are site-defined).
pub const MEDIA_TYPE: &[&str] = &[
    "Voice",
    "VoIP",
    "EMail",
    "VMail",
    "SMail",
    "Chat",
    "Video",
    "Cobrowsing",
    "Whiteboard",
    "AppSharing",
    "WebForm",
    "WorkItem",
];

/// `TTreatmentType` (§4.4).
pub const TREATMENT_TYPE: &[&str] = &[
    "Unknown",
    "IVR",
    "Music",
    "RingBack",
    "Silence",
    "Busy",
    "CollectDigits",
    "PlayAnnouncement",
    "PlayAnnouncementAndDigits",
    "VerifyDigits",
    "RecordUserAnnouncement",
    "DeleteUserAnnouncement",
    "CancelCall",
    "PlayApplication",
    "SetDefaultRoute",
    "TextToSpeech",
    "TextToSpeechAndDigits",
    "FastBusy",
    "RAN",
];

/// `TForwardMode` (§4.4).
pub const FORWARD_MODE: &[&str] =
    &["None", "Unconditional", "OnBusy", "OnNoAnswer", "OnBusyAndNoAnswer", "SendAllCalls"];

/// `TMakeCallType` (§4.4).
pub const MAKE_CALL_TYPE: &[&str] = &["Regular", "DirectAgent", "SupervisorAssist", "Priority", "DirectPriority"];

/// `TRegisterMode` and `TControlMode` (§4.4).
pub const REGISTER_MODE: &[&str] = &["Share", "Private", "Monitor"];
pub const CONTROL_MODE: &[&str] = &["RegisterDefault", "RegisterForce", "RegisterLocal"];

/// The name of an enum value carried by an attribute, when the attribute is an enum and the
/// value is in its table.
pub fn enum_name(attr: AttributeId, v: i64) -> Option<&'static str> {
    let dense = |t: &[&'static str]| usize::try_from(v).ok().and_then(|i| t.get(i).copied());
    let sparse = |t: &[(i64, &'static str)]| t.iter().find(|(k, _)| *k == v).map(|(_, n)| *n);
    match attr {
        AttributeId::CALL_TYPE => dense(CALL_TYPE),
        AttributeId::CALL_STATE => sparse(CALL_STATE),
        AttributeId::THIS_DN_ROLE | AttributeId::OTHER_DN_ROLE | AttributeId::THIRD_PARTY_DN_ROLE => dense(DN_ROLE),
        AttributeId::ADDRESS_TYPE => sparse(ADDRESS_TYPE),
        AttributeId::AGENT_WORK_MODE => dense(AGENT_WORK_MODE),
        AttributeId::SERVER_ROLE => dense(SERVER_ROLE),
        AttributeId::ROUTE_TYPE => dense(ROUTE_TYPE),
        AttributeId::MEDIA_TYPE => dense(MEDIA_TYPE),
        AttributeId::TREATMENT_TYPE => dense(TREATMENT_TYPE),
        AttributeId::FORWARD_MODE => dense(FORWARD_MODE),
        AttributeId::MAKE_CALL_TYPE => dense(MAKE_CALL_TYPE),
        AttributeId::REGISTER_MODE => dense(REGISTER_MODE),
        AttributeId::CONTROL_MODE => dense(CONTROL_MODE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_anchors_of_the_public_header() {
        // Anchor values quoted in genesys_wire.md and confirmed by PSDK logs (S13).
        assert_eq!(MessageType(30).to_string(), "RequestAttachUserData");
        assert_eq!(MessageType(73).to_string(), "EventAgentLogin");
        assert_eq!(MessageType(87).to_string(), "EventOnHook");
        assert_eq!(MessageType::EVENT_SERVER_INFO, MessageType(93));
        assert_eq!(MessageType::EVENT_ACK, MessageType(138));
        assert_eq!(MessageType(182).to_string(), "EventResourceInfo");
        assert_eq!(MessageType(183).to_string(), "Unknown(0xb7)");
        assert_eq!(AttributeId::CALL_UUID, AttributeId(141));
        assert_eq!(AttributeId::EVENT_SEQUENCE_NUMBER, AttributeId(148));
        assert_eq!(AttributeId(149).to_string(), "Unknown(0x95)");
        assert!(MessageType::REQUEST_ROUTE_CALL.is_request() && !MessageType::EVENT_ROUTE_USED.is_request());
        assert_eq!(MessageType::by_name("EventRinging"), Some(MessageType(60)));
        assert_eq!(enum_name(AttributeId::CALL_STATE, 50), Some("Held"));
        assert_eq!(enum_name(AttributeId::OTHER_DN_ROLE, 2), Some("Destination"));
        assert_eq!(enum_name(AttributeId::CALL_TYPE, 9), None);
    }
}
