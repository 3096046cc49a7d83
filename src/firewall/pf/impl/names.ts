/**
 * The name tables pfctl consults through libc: services (getservbyname /
 * getservbyport), protocols, users and groups, plus pfctl's own ICMP type and
 * code names, TOS keywords and timeout names. They hold what a FreeBSD 12
 * base system answers, so parsing and printing never depend on the machine
 * qjail runs on.
 *
 * Services: the port names of FreeBSD's /etc/services for every port up to
 * 1023 and for the registered ports rule files commonly use. A port missing
 * here prints as a number, as pfctl prints a port /etc/services does not
 * name. Entries are `port:name`, `/t` or `/u` when only one protocol has it;
 * the first name for a port wins, as getservbyport() returns the first match.
 */

const SERVICE_TABLE = `
1:tcpmux 2:compressnet 3:compressnet 5:rje 7:echo 9:discard 11:systat 13:daytime 17:qotd 18:msp
19:chargen 20:ftp-data 21:ftp 22:ssh 23:telnet 25:smtp 27:nsw-fe 29:msg-icp 31:msg-auth 33:dsp
37:time 38:rap 39:rlp 41:graphics 42:nameserver 43:nicname 44:mpm-flags 45:mpm 46:mpm-snd 47:ni-ftp
48:auditd 49:tacacs 50:re-mail-ck 51:la-maint 52:xns-time 53:domain 54:xns-ch 55:isi-gl 56:xns-auth 57:mtp/t
58:xns-mail 61:ni-mail 62:acas 63:whois++ 64:covia 65:tacacs-ds 66:sql*net 67:bootps 68:bootpc 69:tftp
70:gopher 71:netrjs-1 72:netrjs-2 73:netrjs-3 74:netrjs-4 76:deos 77:netrjs/t 78:vettcp 79:finger 80:http
82:xfer 83:mit-ml-dev 84:ctf 85:mit-ml-dev 86:mfcobol 87:ttylink/t 88:kerberos-sec 89:su-mit-tg 90:dnsix 91:mit-dov
92:npp 93:dcp 94:objcall 95:supdup 96:dixie 97:swift-rvf 98:tacnews 99:metagram 100:newacct/t 101:hostname
102:iso-tsap 103:gppitnp 104:acr-nema 105:csnet-ns 106:pop3pw/t 106:3com-tsmux/u 107:rtelnet 108:snagas 109:pop2 110:pop3
111:sunrpc 112:mcidas 113:auth 114:audionews 115:sftp 116:ansanotify 117:uucp-path 118:sqlserv 119:nntp 120:cfdptkt
121:erpc 122:smakynet 123:ntp 124:ansatrader 125:locus-map 126:unitary 127:locus-con 128:gss-xlicen 129:pwdgen 130:cisco-fna
131:cisco-tna 132:cisco-sys 133:statsrv 134:ingres-net 135:loc-srv 136:profile 137:netbios-ns 138:netbios-dgm 139:netbios-ssn 140:emfis-data
141:emfis-cntl 142:bl-idm 143:imap 144:NeWS 145:uaac 146:iso-tp0 147:iso-ip 148:cronus 149:aed-512 150:sql-net
151:hems 152:bftp 153:sgmp 154:netsc-prod 155:netsc-dev 156:sqlsrv 157:knet-cmp 158:pcmail-srv 159:nss-routing 160:sgmp-traps
161:snmp 162:snmptrap 163:cmip-man 164:cmip-agent/t 164:smip-agent/u 165:xns-courier 166:s-net 167:namp 168:rsvd 169:send
170:print-srv 171:multiplex 172:cl/1 173:xyplex-mux 174:mailq 175:vmnet 176:genrad-mux 177:xdmcp 178:NextStep 179:bgp
180:ris 181:unify 182:audit 183:ocbinder 184:ocserver 185:remote-kis 186:kis 187:aci 188:mumps 189:qft
190:gacp 191:prospero 192:osu-nms 193:srmp 194:irc 195:dn6-nlm-aud 196:dn6-smm-red 197:dls 198:dls-mon 199:smux
200:src 201:at-rtmp 202:at-nbp 203:at-3 204:at-echo 205:at-5 206:at-zis 207:at-7 208:at-8 209:qmtp
210:z39.50 211:914c/g 212:anet 213:ipx 214:vmpwscs 215:softpc 216:CAIlic 217:dbase 218:mpp 219:uarps
220:imap3 221:fln-spx 222:rsh-spx 223:cdc 242:direct 243:sur-meas 244:dayna 245:link 246:dsp3270 247:subntbcst_tftp
248:bhfhs 256:rap 257:set 258:yak-chat 259:esro-gen 260:openport 261:nsiiops 262:arcisdms 263:hdap 264:bgmp
280:http-mgmt 281:personal-link 282:cableport-ax 308:novastorbakcup 309:entrusttime 310:bhmds 311:asip-webadmin 312:vslmp 313:magenta-logic 314:opalis-robot
315:dpsi 316:decauth 317:zannet 321:pip 344:pdap 345:pawserv 346:zserv 347:fatserv 348:csi-sgwp 349:mftp
350:matip-type-a 351:matip-type-b 352:dtag-ste-sb 353:ndsauth 354:bh611 355:datex-asn 356:cloanto-net-1 357:bhevent 358:shrinkwrap 359:tenebris_nts
360:scoi2odialog 361:semantix 362:srssend 363:rsvp_tunnel 364:aurora-cmgr 365:dtk 366:odmr 367:mortgageware 368:qbikgdp 369:rpc2portmap
370:codaauth2 371:clearcase 372:ulistserv 373:legent-1 374:legent-2 375:hassle 376:nip 377:tnETOS 378:dsETOS 379:is99c
380:is99s 381:hp-collector 382:hp-managed-node 383:hp-alarm-mgr 384:arns 385:ibm-app 386:asa 387:aurp 388:unidata-ldm 389:ldap
390:uis 391:synotics-relay 392:synotics-broker 393:dis 394:embl-ndt 395:netcp 396:netware-ip 397:mptn 398:kryptolan 399:iso-tsap-c2
400:work-sol 401:ups 402:genie 403:decap 404:nced 405:ncld 406:imsp 407:timbuktu 408:prm-sm 409:prm-nm
410:decladebug 411:rmt 412:synoptics-trap 413:smsp 414:infoseek 415:bnet 416:silverplatter 417:onmux 418:hyper-g 419:ariel1
420:smpte 421:ariel2 422:ariel3 423:opc-job-start 424:opc-job-track 425:icad-el 426:smartsdp 427:svrloc 428:ocs_cmu 429:ocs_amu
430:utmpsd 431:utmpcd 432:iasd 433:nnsp 434:mobileip-agent 435:mobilip-mn 436:dna-cml 437:comscm 438:dsfgw 439:dasp
440:sgcp 441:decvms-sysmgt 442:cvc_hostd 443:https 444:snpp 445:microsoft-ds 446:ddm-rdb 447:ddm-dfm 448:ddm-ssl 449:as-servermap
450:tserver 451:sfs-smp-net 452:sfs-config 453:creativeserver 454:contentserver 455:creativepartnr 456:macon-tcp/t 456:macon-udp/u 457:scohelp 458:appleqtc
459:ampr-rcmd 460:skronk 461:datasurfsrv 462:datasurfsrvsec 463:alpes 464:kpasswd5 465:smtps 466:digital-vrc 467:mylex-mapd 468:photuris
469:rcp 470:scx-proxy 471:mondex 472:ljk-login 473:hybrid-pop 474:tn-tl-w1/t 474:tn-tl-w2/u 475:tcpnethaspsrv 476:tn-tl-fd1 477:ss7ns
478:spsc 479:iafserver 480:iafdbase 481:ph 482:bgs-nsi 483:ulpnet 484:integra-sme 485:powerburst 486:avian 487:saft
488:gss-http 489:nest-protocol 490:micom-pfs 491:go-login 492:ticf-1 493:ticf-2 494:pov-ray 495:intecourier 496:pim-rp-disc 497:dantz
498:siam 499:iso-ill 500:isakmp 501:stmf 502:asa-appl-proto 503:intrinsa 504:citadel 505:mailbox-lm 506:ohimsrv 507:crs
508:xvttp 509:snare 510:fcp 511:passgo 512:exec/t 512:biff/u 513:login/t 513:who/u 514:shell/t 514:syslog/u
515:printer 516:videotex 517:talk 518:ntalk 519:utime 520:efs/t 520:router/u 521:ripng 522:ulp 523:ibm-db2
524:ncp 525:timed 526:tempo 527:stx 528:custix 529:irc-serv 530:courier 531:conference 532:netnews 533:netwall
534:mm-admin 535:iiop 536:opalis-rdv 537:nmsp 538:gdomap 539:apertus-ldp 540:uucp 541:uucp-rlogin 542:commerce 543:klogin
544:kshell 545:appleqtcsrvr 546:dhcpv6-client 547:dhcpv6-server 548:afpovertcp 549:idfp 550:new-rwho 551:cybercash 552:deviceshare 553:pirp
554:rtsp 555:dsf 556:remotefs 557:openvms-sysipc 558:sdnskmp 559:teedtap 560:rmonitor 561:monitor 562:chshell 563:nntps
564:9pfs 565:whoami 566:streettalk/t 567:banyan-rpc 568:ms-shuttle 569:ms-rome 570:meter 571:umeter 572:sonar 573:banyan-vip
574:ftp-agent 575:vemmi 576:ipcd 577:vnas 578:ipdd 579:decbsrv 580:sntp-heartbeat 581:bdp 582:scc-security 583:philips-vc
584:keyserver 585:imap4-ssl 586:password-chg 587:submission 588:cal 589:eyelink 590:tns-cml 591:http-alt 592:eudora-set 593:http-rpc-epmap
594:tpip 595:cab-protocol 596:smsd 597:ptcnameservice 598:sco-websrvrmg3 599:acp 600:ipcserver 606:urm 607:nqs 608:sift-uft
609:npmp-trap 610:npmp-local 611:npmp-gui 614:sshell 634:ginad 636:ldaps 666:mdqs 674:acap 704:elcsd 709:entrustmanager
729:netviewdm1 730:netviewdm2 731:netviewdm3 741:netgw 742:netrcs 744:flexlm 747:fujitsu-dev 748:ris-cm 749:kerberos-adm 750:kerberos-iv
751:kerberos_master 752:qrh 753:rrh 754:krb_prop/t 754:tell/u 758:nlogin 759:con 760:krbupdate/t 760:ns/u 761:kpasswd/t
761:rxe/u 762:quotad 763:cycleserv 764:omserv 765:webster 767:phonebook 769:vid 770:cadlock 771:rtip 772:cycleserv2
773:submit/t 773:notify/u 774:rpasswd/t 774:acmaint_dbd/u 775:entomb/t 775:acmaint_transd/u 776:wpages 780:wpgs 786:concert 800:mdbs_daemon
801:device 871:supfilesrv/t 873:rsync 888:accessbuilder 901:swat/t 989:ftps-data 990:ftps 992:telnets 993:imaps 994:ircs
995:pop3s 996:vsinet 997:maitrd 998:busboy/t 998:puparp/u 999:garcon/t 999:applix/u 1000:cadlock/t 1000:ock/u 1025:blackjack
1030:iad1 1031:iad2 1032:iad3 1058:nim 1059:nimreg 1067:instl_boots 1068:instl_bootc 1080:socks 1083:ansoft-lm-1 1084:ansoft-lm-2
1109:kpop 1110:nfsd-status/t 1110:nfsd-keepalive/u 1127:supfiledbg/t 1155:nfa 1167:phone/u 1178:skkserv/t 1212:lupa 1222:nerv 1248:hermes
1281:healthd 1352:lotusnote 1414:ibm-mqseries 1433:ms-sql-s 1434:ms-sql-m 1494:ica 1512:wins 1521:ncube-lm 1524:ingreslock 1525:prospero-np
1526:pdap-np 1527:tlisrv 1529:support/t 1529:coauthor/u 1547:laplink 1600:issd 1723:pptp/t 1812:radius/u 1813:radacct/u 1986:licensedaemon
2000:callbook 2001:dc/t 2001:wizard/u 2002:globe 2003:cfingerd/t 2048:dls-monitor 2049:nfsd 2105:eklogin 2106:ekshell 2108:rkinit
2401:cvspserver 2600:zebrasrv/t 2601:zebra/t 2602:ripd/t 2603:ripngd/t 2604:ospfd/t 2605:bgpd/t 2606:ospf6d/t 2628:dict 2766:listen/t
2784:www-dev 3049:NSWS 3086:sj3/t 3141:vmodem 3264:ccmail 3333:dec-notes 3421:bmap 3455:prsvp 3456:vat 3457:vat-control
3900:udt_os 4008:netcheque 4045:lockd 4321:rwhois 4444:krb524 4500:sae-urn 4557:fax/t 4559:hylafax/t 4672:rfa 5000:commplex-main
5001:commplex-link 5002:rfe 5050:mmcc 5190:aol 5222:jabber-client 5269:jabber-server 5308:cfengine 5432:postgresql 5555:rplay/u 5680:canna/t
5999:cvsup/t 6000:x11 6010:x11-ssh 6558:xdsxdm 6667:ircd/t 6969:acmsoda 7000:afs3-fileserver 7001:afs3-callback 7002:afs3-prserver 7003:afs3-vlserver
7004:afs3-kaserver 7005:afs3-volser 7006:afs3-errors 7007:afs3-bos 7008:afs3-update 7009:afs3-rmtsys 7010:afs3-resserver 7011:afs3-remio 7100:font-service 7200:fodms
7201:dlip 9100:jetdirect/t 9535:man 9876:sd 10080:amanda/u 10082:amandaidx/t 10083:amidxtape/t 17007:isode-dua 18000:biimenu 22273:wnn4/t
22289:wnn4_Cn/t 22305:wnn4_Kr/t 22321:wnn4_Tw/t 26208:wnn6_DS/t 47557:dbbrowse
`;

/** Aliases getservbyname() also accepts (`port:alias,alias`). */
const SERVICE_ALIASES = `
9:sink,null 11:users 17:quote 19:ttytst,source 25:mail 37:timserver 39:resource 42:name 43:whois
67:dhcps 68:dhcpc 80:www,www-http 88:kerberos 101:hostnames 102:tsap 105:cso-ns,cso 106:3com-tsmux
109:postoffice 111:rpcbind 113:ident,tap 119:usenet 135:epmap 143:imap2,imap4 148:jargon 162:snmp-trap
178:nextstep,NeXTStep 190:cacp 210:wais 216:atls 372:ulistproc 448:ddm-byte 512:comsat 513:whod
514:cmd 515:spooler 519:unixtime 520:route,routed 525:timeserver 526:newdate 530:rpc 531:chat
532:readnews 540:uucpd 544:krcmd 550:new-who 556:rfs,rfs_server 560:rmonitord 562:chcmd 563:snntp
636:sldap 750:kdc 754:krb5_prop 760:kreg 761:kpwd 995:spop3 1529:prmsd,gnatsd 2049:nfs
`;

interface ServiceMaps {
  byPort: { tcp: Map<number, string>; udp: Map<number, string> };
  byName: { tcp: Map<string, number>; udp: Map<string, number> };
}

let services: ServiceMaps | undefined;

function loadServices(): ServiceMaps {
  const maps: ServiceMaps = {
    byPort: { tcp: new Map(), udp: new Map() },
    byName: { tcp: new Map(), udp: new Map() },
  };
  const add = (proto: "tcp" | "udp", port: number, name: string, primary: boolean): void => {
    if (primary && !maps.byPort[proto].has(port)) maps.byPort[proto].set(port, name);
    if (!maps.byName[proto].has(name)) maps.byName[proto].set(name, port);
  };
  for (const item of SERVICE_TABLE.split(/\s+/)) {
    if (item === "") continue;
    const colon = item.indexOf(":");
    const port = Number(item.slice(0, colon));
    let name = item.slice(colon + 1);
    let protos: ("tcp" | "udp")[] = ["tcp", "udp"];
    if (name.endsWith("/t")) {
      protos = ["tcp"];
      name = name.slice(0, -2);
    } else if (name.endsWith("/u")) {
      protos = ["udp"];
      name = name.slice(0, -2);
    }
    for (const p of protos) add(p, port, name, true);
  }
  for (const item of SERVICE_ALIASES.split(/\s+/)) {
    if (item === "") continue;
    const [port, names] = item.split(":") as [string, string];
    for (const n of names.split(",")) for (const p of ["tcp", "udp"] as const) add(p, Number(port), n, false);
  }
  return maps;
}

/** getservbyport(port, proto)'s name, or null. */
export function serviceName(port: number, proto: "tcp" | "udp"): string | null {
  services ??= loadServices();
  return services.byPort[proto].get(port) ?? null;
}

/** getservbyname(name, "tcp"), then "udp", as pfctl's getservice() asks. */
export function servicePort(name: string): number | null {
  services ??= loadServices();
  return services.byName.tcp.get(name) ?? services.byName.udp.get(name) ?? null;
}

/** FreeBSD /etc/protocols: number, name and aliases (getprotobyname matches any of them). */
const PROTOCOLS: readonly (readonly [number, string, ...string[]])[] = [
  [0, "ip", "IP"],
  [1, "icmp", "ICMP"],
  [2, "igmp", "IGMP"],
  [3, "ggp", "GGP"],
  [4, "ipencap", "IP-ENCAP"],
  [5, "st2", "ST2"],
  [6, "tcp", "TCP"],
  [7, "cbt", "CBT"],
  [8, "egp", "EGP"],
  [9, "igp", "IGP"],
  [10, "bbn-rcc", "BBN-RCC-MON"],
  [11, "nvp", "NVP-II"],
  [12, "pup", "PUP"],
  [13, "argus", "ARGUS"],
  [14, "emcon", "EMCON"],
  [15, "xnet", "XNET"],
  [16, "chaos", "CHAOS"],
  [17, "udp", "UDP"],
  [18, "mux", "MUX"],
  [19, "dcn", "DCN-MEAS"],
  [20, "hmp", "HMP"],
  [21, "prm", "PRM"],
  [22, "xns-idp", "XNS-IDP"],
  [23, "trunk-1", "TRUNK-1"],
  [24, "trunk-2", "TRUNK-2"],
  [25, "leaf-1", "LEAF-1"],
  [26, "leaf-2", "LEAF-2"],
  [27, "rdp", "RDP"],
  [28, "irtp", "IRTP"],
  [29, "iso-tp4", "ISO-TP4"],
  [30, "netblt", "NETBLT"],
  [31, "mfe-nsp", "MFE-NSP"],
  [32, "merit-inp", "MERIT-INP"],
  [33, "dccp", "DCCP"],
  [34, "3pc", "3PC"],
  [35, "idpr", "IDPR"],
  [36, "xtp", "XTP"],
  [37, "ddp", "DDP"],
  [38, "idpr-cmtp", "IDPR-CMTP"],
  [39, "tp++", "TP++"],
  [40, "il", "IL"],
  [41, "ipv6", "IPV6"],
  [42, "sdrp", "SDRP"],
  [43, "ipv6-route", "IPV6-ROUTE"],
  [44, "ipv6-frag", "IPV6-FRAG"],
  [45, "idrp", "IDRP"],
  [46, "rsvp", "RSVP"],
  [47, "gre", "GRE"],
  [48, "dsr", "DSR"],
  [49, "bna", "BNA"],
  [50, "esp", "ESP"],
  [51, "ah", "AH"],
  [52, "i-nlsp", "I-NLSP"],
  [53, "swipe", "SWIPE"],
  [54, "narp", "NARP"],
  [55, "mobile", "MOBILE"],
  [56, "tlsp", "TLSP"],
  [57, "skip", "SKIP"],
  [58, "ipv6-icmp", "IPV6-ICMP", "icmp6"],
  [59, "ipv6-nonxt", "IPV6-NONXT"],
  [60, "ipv6-opts", "IPV6-OPTS"],
  [62, "cftp", "CFTP"],
  [64, "sat-expak", "SAT-EXPAK"],
  [65, "kryptolan", "KRYPTOLAN"],
  [66, "rvd", "RVD"],
  [67, "ippc", "IPPC"],
  [69, "sat-mon", "SAT-MON"],
  [70, "visa", "VISA"],
  [71, "ipcv", "IPCV"],
  [72, "cpnx", "CPNX"],
  [73, "cphb", "CPHB"],
  [74, "wsn", "WSN"],
  [75, "pvp", "PVP"],
  [76, "br-sat-mon", "BR-SAT-MON"],
  [77, "sun-nd", "SUN-ND"],
  [78, "wb-mon", "WB-MON"],
  [79, "wb-expak", "WB-EXPAK"],
  [80, "iso-ip", "ISO-IP"],
  [81, "vmtp", "VMTP"],
  [82, "secure-vmtp", "SECURE-VMTP"],
  [83, "vines", "VINES"],
  [84, "ttp", "TTP"],
  [85, "nsfnet-igp", "NSFNET-IGP"],
  [86, "dgp", "DGP"],
  [87, "tcf", "TCF"],
  [88, "eigrp", "EIGRP"],
  [89, "ospf", "OSPFIGP"],
  [90, "sprite-rpc", "Sprite-RPC"],
  [91, "larp", "LARP"],
  [92, "mtp", "MTP"],
  [93, "ax.25", "AX.25"],
  [94, "ipip", "IPIP"],
  [95, "micp", "MICP"],
  [96, "scc-sp", "SCC-SP"],
  [97, "etherip", "ETHERIP"],
  [98, "encap", "ENCAP"],
  [100, "gmtp", "GMTP"],
  [101, "ifmp", "IFMP"],
  [102, "pnni", "PNNI"],
  [103, "pim", "PIM"],
  [104, "aris", "ARIS"],
  [105, "scps", "SCPS"],
  [106, "qnx", "QNX"],
  [107, "a/n", "A/N"],
  [108, "ipcomp", "IPComp"],
  [109, "snp", "SNP"],
  [110, "compaq-peer", "Compaq-Peer"],
  [111, "ipx-in-ip", "IPX-in-IP"],
  [112, "carp", "CARP", "vrrp"],
  [113, "pgm", "PGM"],
  [115, "l2tp", "L2TP"],
  [116, "ddx", "DDX"],
  [117, "iatp", "IATP"],
  [118, "stp", "STP"],
  [119, "srp", "SRP"],
  [120, "uti", "UTI"],
  [121, "smp", "SMP"],
  [122, "sm", "SM"],
  [123, "ptp", "PTP"],
  [124, "isis", "ISIS"],
  [125, "fire", "FIRE"],
  [126, "crtp", "CRTP"],
  [127, "crudp", "CRUDP"],
  [128, "sscopmce", "SSCOPMCE"],
  [129, "iplt", "IPLT"],
  [130, "sps", "SPS"],
  [131, "pipe", "PIPE"],
  [132, "sctp", "SCTP"],
  [133, "fc", "FC"],
  [134, "rsvp-e2e-ignore", "RSVP-E2E-IGNORE"],
  [135, "mobility-header", "Mobility-Header"],
  [136, "udplite", "UDPLite"],
  [137, "mpls-in-ip", "MPLS-IN-IP"],
  [138, "manet", "MANET"],
  [139, "hip", "HIP"],
  [140, "shim6", "SHIM6"],
  [141, "wesp", "WESP"],
  [142, "rohc", "ROHC"],
  [240, "pfsync", "PFSYNC"],
];

const PROTO_BY_NAME = new Map<string, number>();
const PROTO_NAME = new Map<number, string>();
for (const [number, name, ...aliases] of PROTOCOLS) {
  PROTO_NAME.set(number, name);
  for (const n of [name, ...aliases]) if (!PROTO_BY_NAME.has(n)) PROTO_BY_NAME.set(n, number);
}

/** getprotobyname(): a protocol name or alias, or null. */
export function protocolNumber(name: string): number | null {
  return PROTO_BY_NAME.get(name) ?? null;
}

/** getprotobynumber()'s name, or null when /etc/protocols has none. */
export function protocolName(number: number): string | null {
  return PROTO_NAME.get(number) ?? null;
}

/** FreeBSD base system users and groups (etc/master.passwd, etc/group). */
const USERS: ReadonlyMap<string, number> = new Map([
  ["root", 0],
  ["toor", 0],
  ["daemon", 1],
  ["operator", 2],
  ["bin", 3],
  ["tty", 4],
  ["kmem", 5],
  ["games", 7],
  ["news", 8],
  ["man", 9],
  ["sshd", 22],
  ["smmsp", 25],
  ["mailnull", 26],
  ["bind", 53],
  ["unbound", 59],
  ["proxy", 62],
  ["_pflogd", 64],
  ["_dhcp", 65],
  ["uucp", 66],
  ["pop", 68],
  ["auditdistd", 78],
  ["www", 80],
  ["ntpd", 123],
  ["_ypldap", 160],
  ["hast", 845],
  ["tests", 977],
  ["nobody", 65534],
]);

const GROUPS: ReadonlyMap<string, number> = new Map([
  ["wheel", 0],
  ["daemon", 1],
  ["kmem", 2],
  ["sys", 3],
  ["tty", 4],
  ["operator", 5],
  ["mail", 6],
  ["bin", 7],
  ["news", 8],
  ["man", 9],
  ["games", 13],
  ["ftp", 14],
  ["staff", 20],
  ["sshd", 22],
  ["smmsp", 25],
  ["mailnull", 26],
  ["guest", 31],
  ["video", 44],
  ["bind", 53],
  ["unbound", 59],
  ["proxy", 62],
  ["authpf", 63],
  ["_pflogd", 64],
  ["_dhcp", 65],
  ["uucp", 66],
  ["dialer", 68],
  ["network", 69],
  ["audit", 77],
  ["www", 80],
  ["ntpd", 123],
  ["_ypldap", 160],
  ["hast", 845],
  ["tests", 977],
  ["nogroup", 65533],
  ["nobody", 65534],
]);

/** getpwnam()'s uid, looking first at names the caller adds (a jail host's own users). */
export function userId(name: string, extra?: ReadonlyMap<string, number>): number | null {
  return extra?.get(name) ?? USERS.get(name) ?? null;
}

export function groupId(name: string, extra?: ReadonlyMap<string, number>): number | null {
  return extra?.get(name) ?? GROUPS.get(name) ?? null;
}

/** pfctl's ICMP type names (pfctl_parser.c icmp_type), in table order: the first match wins both ways. */
export const ICMP_TYPES: readonly (readonly [string, number])[] = [
  ["echoreq", 8],
  ["echorep", 0],
  ["unreach", 3],
  ["squench", 4],
  ["redir", 5],
  ["althost", 6],
  ["routeradv", 9],
  ["routersol", 10],
  ["timex", 11],
  ["paramprob", 12],
  ["timereq", 13],
  ["timerep", 14],
  ["inforeq", 15],
  ["inforep", 16],
  ["maskreq", 17],
  ["maskrep", 18],
  ["trace", 30],
  ["dataconv", 31],
  ["mobredir", 32],
  ["ipv6-where", 33],
  ["ipv6-here", 34],
  ["mobregreq", 35],
  ["mobregrep", 36],
  ["skip", 39],
  ["photuris", 40],
];

export const ICMP6_TYPES: readonly (readonly [string, number])[] = [
  ["unreach", 1],
  ["toobig", 2],
  ["timex", 3],
  ["paramprob", 4],
  ["echoreq", 128],
  ["echorep", 129],
  ["groupqry", 130],
  ["listqry", 130],
  ["grouprep", 131],
  ["listenrep", 131],
  ["groupterm", 132],
  ["listendone", 132],
  ["routersol", 133],
  ["routeradv", 134],
  ["neighbrsol", 135],
  ["neighbradv", 136],
  ["redir", 137],
  ["routrrenum", 138],
  ["wrureq", 139],
  ["wrurep", 140],
  ["fqdnreq", 139],
  ["fqdnrep", 140],
  ["niqry", 139],
  ["nirep", 140],
  ["mtraceresp", 200],
  ["mtrace", 201],
];

/** [name, type, code] */
export const ICMP_CODES: readonly (readonly [string, number, number])[] = [
  ["net-unr", 3, 0],
  ["host-unr", 3, 1],
  ["proto-unr", 3, 2],
  ["port-unr", 3, 3],
  ["needfrag", 3, 4],
  ["srcfail", 3, 5],
  ["net-unk", 3, 6],
  ["host-unk", 3, 7],
  ["isolate", 3, 8],
  ["net-prohib", 3, 9],
  ["host-prohib", 3, 10],
  ["net-tos", 3, 11],
  ["host-tos", 3, 12],
  ["filter-prohib", 3, 13],
  ["host-preced", 3, 14],
  ["cutoff-preced", 3, 15],
  ["redir-net", 5, 0],
  ["redir-host", 5, 1],
  ["redir-tos-net", 5, 2],
  ["redir-tos-host", 5, 3],
  ["normal-adv", 9, 0],
  ["common-adv", 9, 16],
  ["transit", 11, 0],
  ["reassemb", 11, 1],
  ["badhead", 12, 0],
  ["optmiss", 12, 1],
  ["badlen", 12, 2],
  ["unknown-ind", 40, 1],
  ["auth-fail", 40, 2],
  ["decrypt-fail", 40, 3],
];

export const ICMP6_CODES: readonly (readonly [string, number, number])[] = [
  ["admin-unr", 1, 1],
  ["noroute-unr", 1, 0],
  ["notnbr-unr", 1, 2],
  ["beyond-unr", 1, 2],
  ["addr-unr", 1, 3],
  ["port-unr", 1, 4],
  ["transit", 3, 0],
  ["reassemb", 3, 1],
  ["badhead", 4, 0],
  ["nxthdr", 4, 1],
  ["redironlink", 137, 0],
  ["redirrouter", 137, 1],
];

export function icmpTypeByName(name: string, v6: boolean): number | null {
  return (v6 ? ICMP6_TYPES : ICMP_TYPES).find(([n]) => n === name)?.[1] ?? null;
}

export function icmpTypeName(type: number, v6: boolean): string | null {
  return (v6 ? ICMP6_TYPES : ICMP_TYPES).find(([, t]) => t === type)?.[0] ?? null;
}

export function icmpCodeByName(type: number, name: string, v6: boolean): number | null {
  return (v6 ? ICMP6_CODES : ICMP_CODES).find(([n, t]) => t === type && n === name)?.[2] ?? null;
}

export function icmpCodeName(type: number, code: number, v6: boolean): string | null {
  return (v6 ? ICMP6_CODES : ICMP_CODES).find(([, t, c]) => t === type && c === code)?.[0] ?? null;
}

/** pfctl's map_tos() keywords (case-insensitive). */
const TOS_WORDS: ReadonlyMap<string, number> = new Map([
  ["af11", 0x28],
  ["af12", 0x30],
  ["af13", 0x38],
  ["af21", 0x48],
  ["af22", 0x50],
  ["af23", 0x58],
  ["af31", 0x68],
  ["af32", 0x70],
  ["af33", 0x78],
  ["af41", 0x88],
  ["af42", 0x90],
  ["af43", 0x98],
  ["critical", 0xa0],
  ["cs0", 0x00],
  ["cs1", 0x20],
  ["cs2", 0x40],
  ["cs3", 0x60],
  ["cs4", 0x80],
  ["cs5", 0xa0],
  ["cs6", 0xc0],
  ["cs7", 0xe0],
  ["ef", 0xb8],
  ["inetcontrol", 0xc0],
  ["lowdelay", 0x10],
  ["netcontrol", 0xe0],
  ["reliability", 0x04],
  ["throughput", 0x08],
]);

export function tosValue(word: string): number | null {
  return TOS_WORDS.get(word.toLowerCase()) ?? null;
}

/** pf's timeout slots (PFTM_*), in kernel order: state options print in this order. */
export const TIMEOUT_SLOTS = [
  "tcp.first",
  "tcp.opening",
  "tcp.established",
  "tcp.closing",
  "tcp.finwait",
  "tcp.closed",
  "udp.first",
  "udp.single",
  "udp.multiple",
  "icmp.first",
  "icmp.error",
  "other.first",
  "other.single",
  "other.multiple",
  "frag",
  "interval",
  "adaptive.start",
  "adaptive.end",
  "src.track",
  "tcp.tsdiff",
] as const;

export type TimeoutName = (typeof TIMEOUT_SLOTS)[number];

/** The names `set timeout` and state options accept, in pfctl's pf_timeouts table order. */
export const TIMEOUT_NAMES: readonly TimeoutName[] = [
  "tcp.first",
  "tcp.opening",
  "tcp.established",
  "tcp.closing",
  "tcp.finwait",
  "tcp.closed",
  "tcp.tsdiff",
  "udp.first",
  "udp.single",
  "udp.multiple",
  "icmp.first",
  "icmp.error",
  "other.first",
  "other.single",
  "other.multiple",
  "frag",
  "interval",
  "adaptive.start",
  "adaptive.end",
  "src.track",
];

export function timeoutSlot(name: string): number | null {
  const i = (TIMEOUT_SLOTS as readonly string[]).indexOf(name);
  return i < 0 ? null : i;
}
